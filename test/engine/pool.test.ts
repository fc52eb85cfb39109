/**
 * The buffer pool's policy (engine/pool.ts) and the memory budget (engine/memory_budget.ts): a repeated
 * step creates no buffer once warm, pooled memory stays under the budget when shapes keep changing, and
 * buffers released while recording force an early submit when they pass their share of the budget.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { Device } from '../../engine/device.js';
import { tensor } from '../../engine/create.js';
import { Generator, rand } from '../../engine/rng.js';
import { keep, scope } from '../../engine/scope.js';
import { SGD } from '../../engine/optim/index.js';
import { SmallCNN } from '../../nn/models/index.js';
import { standardStep, tradesStep, type Batch } from '../../training/steps.js';
import { explicitMemoryBudget, parkedLimit, parseBytes } from '../../engine/memory_budget.js';
import type { Tensor } from '../../engine/tensor.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();
const MIB = 2 ** 20;

const devices: Device[] = [];
afterAll(async () => { for (const d of devices) await d.close(); });
async function deviceWithBudget(bytes: number): Promise<Device> {
  const d = await Device.create({ memoryBudgetBytes: bytes });
  devices.push(d);
  return d;
}

interface Workload { model: SmallCNN; opt: SGD; batch: Batch; dispose(): void }
function smallCnnWorkload(device: Device, batch = 4): Workload {
  const model = new SmallCNN({ device, generator: new Generator(1) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = keep(rand([batch, 1, 28, 28], { device, generator: new Generator(2) }));
  const y = keep(tensor(Int32Array.from({ length: batch }, (_, i) => (i * 3) % 10), [batch], { device }));
  return { model, opt, batch: { x, y }, dispose: () => { opt.dispose(); model.dispose(); x.dispose(); y.dispose(); } };
}
const trades = (w: Workload) => tradesStep(w.model, w.opt, w.batch, { eps: 0.1, alpha: 0.025, steps: 3, beta: 6, generator: new Generator(3) });
const standard = (w: Workload) => standardStep(w.model, w.opt, w.batch);

async function runSteps(w: Workload, step: (w: Workload) => Tensor, n: number): Promise<number[]> {
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    const l = step(w);
    losses.push(await l.item());
    l.dispose();
  }
  return losses;
}

describe('steady state', () => {
  it.each([['standard', standard], ['TRADES (3 attack steps)', trades]] as const)(
    'a repeated %s step of the small CNN creates no buffer after warm-up', async (_, step) => {
      const d = dev();
      const w = smallCnnWorkload(d);
      await runSteps(w, step, 2);
      const before = d.stats();
      await runSteps(w, step, 4);
      const after = d.stats();
      expect(after.buffersCreated - before.buffersCreated, 'buffers created in 4 warm steps').toBe(0);
      expect(after.pooledBytes).toBe(before.pooledBytes);
      expect(after.liveTensors).toBe(before.liveTensors);
      // Not vacuous: with the pool emptied, the same step has to create its buffers again.
      d.pool.trim();
      await runSteps(w, step, 1);
      expect(d.stats().buffersCreated - after.buffersCreated).toBeGreaterThan(10);
      w.dispose();
    });
});

describe('pooled memory under the budget', () => {
  /** A few ops on an n-element tensor; returns sum(x * 2 + 1) read back, checked against the exact value. */
  async function shapedWork(d: Device, n: number): Promise<void> {
    const s = scope(() => {
      const x = tensor(Float32Array.from({ length: n }, (_, i) => i % 7), [n], { device: d });
      return o.sum(o.add(o.mul(x, 2), 1));
    });
    let want = 0;
    for (let i = 0; i < n; i++) want += 2 * (i % 7) + 1;
    expect(await s.item(), `sum for n = ${n}`).toBe(want);
    s.dispose();
  }

  it('a workload that keeps changing shape stays under the budget, and what it uses now stays pooled', async () => {
    const budget = 2 * MIB;
    const d = await deviceWithBudget(budget);
    // 16 KiB to 473 KiB, in 40 different size classes; the largest shape's three tensors fit the budget.
    const sizes = Array.from({ length: 40 }, (_, i) => 4096 + 3000 * i);
    for (const n of sizes) {
      await shapedWork(d, n);
      const s = d.stats();
      expect(s.pooledBytes, `pooled bytes after n = ${n}`).toBeLessThanOrEqual(budget);
      expect(s.liveTensors).toBe(0);
    }
    // Not vacuous: the shapes needed far more than the budget in all (x, 2x and 2x + 1 of each), so the pool did evict.
    expect(sizes.reduce((a, n) => a + 3 * 4 * n, 0)).toBeGreaterThan(10 * budget);
    expect(d.pool.buffersDestroyed).toBeGreaterThan(0);
    // The shape in use was the most recently used, so it was not evicted: repeating it creates nothing.
    const before = d.stats().buffersCreated;
    await shapedWork(d, sizes.at(-1)!);
    expect(d.stats().buffersCreated - before).toBe(0);
  });

  it('two alternating shapes that fit the budget together are both kept (no churn)', async () => {
    const d = await deviceWithBudget(2 * MIB);
    for (let i = 0; i < 2; i++) { await shapedWork(d, 20_000); await shapedWork(d, 50_000); }
    const before = d.stats();
    for (let i = 0; i < 3; i++) { await shapedWork(d, 20_000); await shapedWork(d, 50_000); }
    expect(d.stats().buffersCreated - before.buffersCreated).toBe(0);
    expect(d.pool.buffersDestroyed).toBe(0);
  });
});

describe('parking budget', () => {
  /** 100 chained adds on a 64 KiB tensor, each intermediate disposed at once, with no readback in between. */
  async function longRecording(d: Device): Promise<void> {
    const n = 16384;
    let y = keep(tensor(Float32Array.from({ length: n }, (_, i) => i), [n], { device: d }));
    for (let k = 0; k < 100; k++) {
      const next = keep(o.add(y, 1));
      y.dispose();
      y = next;
    }
    const got = await y.read();
    y.dispose();
    for (let i = 0; i < n; i += 1111) expect(got[i], `element ${i}`).toBe(i + 100);
  }

  it('without a small budget the recording parks every intermediate (the control)', async () => {
    const d = dev();
    d.pool.trim();
    d.resetPeakBytes();
    const before = d.stats();
    await longRecording(d);
    const s = d.stats();
    expect(s.flushesForMemory - before.flushesForMemory).toBe(0);
    expect(s.peakBytes - before.pooledBytes).toBeGreaterThanOrEqual(100 * 65536);
  });

  it('under a 1 MiB budget parked bytes force submits, and the peak stays within the budget plus the live set', async () => {
    const budget = MIB;
    const d = await deviceWithBudget(budget);
    await longRecording(d);
    const s = d.stats();
    // 100 x 64 KiB parked in all, a submit each time they pass a quarter of the budget (every 5th intermediate).
    expect(s.flushesForMemory).toBeGreaterThanOrEqual(Math.floor(100 / (Math.floor(parkedLimit(budget) / 65536) + 1)));
    expect(s.peakBytes).toBeLessThanOrEqual(budget + d.pool.peakInUseBytes);
    // The live set is two 64 KiB tensors (and the constant): the bound is tight, and the peak well under the 6.4 MB parked in all.
    expect(d.pool.peakInUseBytes).toBeLessThan(3 * 65536);
    expect(s.parkedBytes).toBe(0);
  });

  it('submits forced by memory keep GPU profiling whole: every dispatch timed once, submits in order', async (ctx) => {
    const d = await deviceWithBudget(MIB);
    if (!d.hasTimestamps) ctx.skip();
    d.startProfile();
    const before = d.stats();
    await longRecording(d);
    const times = await d.stopProfile();
    const s = d.stats();
    expect(s.flushesForMemory - before.flushesForMemory).toBeGreaterThan(10);
    expect(times.length).toBe(s.dispatches - before.dispatches);
    expect(new Set(times.map((t) => t.submission)).size).toBeGreaterThan(10);
    for (let i = 1; i < times.length; i++) expect(times[i]!.submission, `span ${i}`).toBeGreaterThanOrEqual(times[i - 1]!.submission);
  });

  it('a TRADES step under a 4 MiB budget gives the same losses bit for bit, flushes, and holds less than the budget plus its live set', async () => {
    const budget = 4 * MIB;
    const small = await deviceWithBudget(budget);
    const [wa, wb] = [smallCnnWorkload(dev(), 8), smallCnnWorkload(small, 8)];
    dev().resetPeakBytes();
    const want = await runSteps(wa, trades, 3);
    const got = await runSteps(wb, trades, 3);
    expect(got).toEqual(want);
    const [sa, sb] = [dev().stats(), small.stats()];
    expect(sb.flushesForMemory).toBeGreaterThan(0);
    // Without the flushes the step parks more than the budget (the default device's peak), with them it does not.
    const liveSet = small.pool.peakInUseBytes;
    expect(sa.peakBytes).toBeGreaterThan(budget + liveSet);
    expect(sb.peakBytes).toBeLessThanOrEqual(budget + liveSet);
    wa.dispose();
    wb.dispose();
  });
});

describe('memory budget option', () => {
  it('parses byte counts with binary units and refuses anything else, naming the source', () => {
    expect(parseBytes('4096', 'x')).toBe(4096);
    expect(parseBytes('512M', 'x')).toBe(512 * MIB);
    expect(parseBytes('1.5GiB', 'x')).toBe(1.5 * 2 ** 30);
    expect(parseBytes('8 gb', 'x')).toBe(8 * 2 ** 30);
    for (const bad of ['', 'lots', '-1G', '0', '4X']) expect(() => parseBytes(bad, 'ROBUSTGPU_MEMORY_BUDGET')).toThrow(/ROBUSTGPU_MEMORY_BUDGET must be a byte count/);
    expect(explicitMemoryBudget(undefined, '2G')).toBe(2 * 2 ** 30);
    expect(explicitMemoryBudget(1000, '2G')).toBe(1000); // the option wins over the environment
    expect(explicitMemoryBudget(undefined, undefined)).toBeUndefined();
    expect(() => explicitMemoryBudget(0)).toThrow(/memoryBudgetBytes must be/);
  });

  it('the device reports its budget, and a default one is an estimate of at least 1 GiB', () => {
    expect(dev().stats().memoryBudgetBytes).toBe(dev().memoryBudgetBytes);
    expect(dev().memoryBudgetBytes).toBeGreaterThanOrEqual(2 ** 30);
  });
});
