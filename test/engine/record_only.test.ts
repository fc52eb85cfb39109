/**
 * DeviceOptions.recordOnly (bench/memory_peak_main.ts --record-only): the allocator sees exactly what an executed
 * run asks of it, and nothing is dispatched. bench/RESULTS.md compares the two on TRADES steps to the byte.
 */
import { describe, expect, it } from 'vitest';
import { Device } from '../../engine/device.js';
import { Generator } from '../../engine/rng.js';
import { tensor } from '../../engine/create.js';
import { SGD } from '../../engine/optim/index.js';
import { buildModel } from '../../nn/models/index.js';
import { pgdAtStep } from '../../training/steps.js';

async function stepPeak(recordOnly: boolean) {
  const device = await Device.create({ recordOnly });
  try {
    const model = buildModel('convnet-4', { device, generator: new Generator(1) });
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const x = tensor(Float32Array.from({ length: 16 * 784 }, (_, i) => (i % 97) / 97), [16, 1, 28, 28], { device });
    const y = tensor(Int32Array.from({ length: 16 }, (_, i) => i % 10), [16], { device });
    await device.sync();
    device.pool.trim();
    device.resetPeakBytes();
    const s0 = device.stats();
    const loss = pgdAtStep(model, opt, { x, y }, { eps: 0.1, alpha: 0.05, steps: 2, generator: new Generator(2) });
    const value = await loss.item();
    const s = device.stats();
    const weights = await model.parameters()[0]!.read();
    for (const t of [loss, x, y]) t.dispose();
    opt.dispose();
    model.dispose();
    return { inUse: device.pool.peakInUseBytes, dispatches: s.dispatches - s0.dispatches, submissions: s.submissions - s0.submissions, value, weights };
  } finally {
    await device.close();
  }
}

describe('recordOnly', () => {
  it('a training step asks the allocator for the same bytes as when it runs, and nothing runs', async () => {
    const run = await stepPeak(false);
    const rec = await stepPeak(true);
    expect(rec.inUse).toBe(run.inUse);
    expect(rec.dispatches, 'dispatches are counted as if recorded').toBe(run.dispatches);
    expect(run.dispatches).toBeGreaterThan(50);
    expect(run.value).toBeGreaterThan(0);
    // nothing was dispatched: the loss and the weights (the initialisation is a kernel too) read back as zeros
    expect(rec.value).toBe(0);
    expect(rec.weights.every((v) => v === 0)).toBe(true);
    expect(run.weights.some((v) => v !== 0)).toBe(true);
  });
});
