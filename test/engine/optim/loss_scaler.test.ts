/**
 * The dynamic loss scaler (engine/optim/loss_scaler.ts): the scale moves on the GPU (halves on an overflow
 * and gates the update off, doubles after a run of finite steps), an overflow it handles is hidden from the
 * health check while a non-finite step at the minimum scale is not, its state round-trips, bad options are refused.
 */
import { describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { LossScaler } from '../../../engine/optim/index.js';

const dev = useDevice();

async function step(s: LossScaler, norm: number): Promise<{ ok: number; healthNorm: number; scale: number; good: number }> {
  const n = tensor([norm]);
  const r = s.update(n);
  const out = { ok: (await r.ok.read())[0]!, healthNorm: (await r.healthNorm.read())[0]!, ...(await s.state()) };
  for (const t of [n, r.ok, r.healthNorm]) t.dispose();
  return out;
}

describe('LossScaler', () => {
  it('halves on an overflow (no update), doubles after growthInterval finite steps, and scales and unscales', async () => {
    const live = dev().stats().liveTensors;
    const s = new LossScaler(dev(), { initScale: 1024, growthInterval: 3 });
    expect(await step(s, Infinity)).toEqual({ ok: 0, healthNorm: 0, scale: 512, good: 0 });
    expect(await step(s, NaN)).toMatchObject({ ok: 0, healthNorm: 0, scale: 256 });
    expect(await step(s, 2)).toEqual({ ok: 1, healthNorm: 2, scale: 256, good: 1 });
    expect(await step(s, 3)).toEqual({ ok: 1, healthNorm: 3, scale: 256, good: 2 });
    expect(await step(s, 4)).toEqual({ ok: 1, healthNorm: 4, scale: 512, good: 0 });
    const loss = tensor([0.25]);
    const scaled = s.scaleLoss(loss);
    expect(Array.from(await scaled.read())).toEqual([128]);
    const p = tensor([1, 2]);
    p.grad = tensor([512, -1024]);
    s.unscale([p]);
    expect(Array.from(await p.grad.read())).toEqual([1, -2]);
    for (const t of [loss, scaled, p]) t.dispose();
    s.dispose();
    expect(dev().stats().liveTensors).toBe(live);
  });

  it('at the minimum scale a non-finite norm reaches the health check; the state round-trips; bad options are refused', async () => {
    const s = new LossScaler(dev(), { initScale: 2, minScale: 2 });
    const r = await step(s, NaN);
    expect(r.ok).toBe(0);
    expect(Number.isNaN(r.healthNorm), 'the health check sees the NaN').toBe(true);
    s.loadState({ scale: 64, good: 5 });
    expect(await s.state()).toEqual({ scale: 64, good: 5 });
    expect(() => s.loadState({ scale: -1, good: 0 })).toThrow(/state.scale must be a positive/);
    s.dispose();
    expect(() => new LossScaler(dev(), { growthInterval: 1.5 })).toThrow(/growthInterval must be a positive integer, got 1.5/);
    expect(() => new LossScaler(dev(), { backoffFactor: 2 })).toThrow(/backoffFactor must be below 1/);
    expect(() => new LossScaler(dev(), { initScale: 0 })).toThrow(/initScale must be a positive/);
  });
});
