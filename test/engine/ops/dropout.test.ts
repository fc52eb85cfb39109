/**
 * Dropout: the audited masked op, and the seeded dropout built on it: keeps about 1 - p of the elements,
 * preserves the mean, draws the same mask from the same seed, drops the same elements in the backward,
 * and is the identity in evaluation mode or at p = 0.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { ones, tensor } from '../../../engine/create.js';
import { Generator } from '../../../engine/rng.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import * as o from '../../../engine/ops/index.js';

const dev = useDevice();
const N = 20000;

describe('dropout', () => {
  it('passes the audit: forward, gradient and finite differences against the float64 reference', async () => {
    const [row] = await runAudit(dev(), { ops: ['dropout'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.gradient).not.toBeNull();
  });

  it.each([0.1, 0.5, 0.8])('p = %s keeps about 1 - p of the elements, scales them by 1/(1-p), and preserves the mean', async (p) => {
    const y = await o.dropout(ones([N]), { p, generator: new Generator(7) }).read();
    const scale = Math.fround(1 / (1 - p));
    let kept = 0;
    let sum = 0;
    for (let i = 0; i < N; i++) {
      if (y[i] !== 0 && y[i] !== scale) expect.fail(`element ${i} is ${y[i]}, expected 0 or ${scale}`);
      if (y[i] !== 0) kept++;
      sum += y[i]!;
    }
    // Five standard deviations of a binomial fraction and of the mean of N draws.
    expect(Math.abs(kept / N - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
    expect(Math.abs(sum / N - 1)).toBeLessThan(5 * Math.sqrt(p / (1 - p) / N));
  });

  it('draws the same mask from the same seed and a different one from another seed', async () => {
    const x = ones([4000]);
    const a = await o.dropout(x, { p: 0.5, generator: new Generator(11) }).read();
    const b = await o.dropout(x, { p: 0.5, generator: new Generator(11) }).read();
    const c = await o.dropout(x, { p: 0.5, generator: new Generator(12) }).read();
    expect(Array.from(a)).toEqual(Array.from(b));
    const same = Array.from(a).filter((v, i) => v === c[i]).length;
    expect(same / a.length).toBeLessThan(0.6);
    // One generator advances: two calls in a row draw different masks.
    const g = new Generator(11);
    const d1 = await o.dropout(x, { p: 0.5, generator: g }).read();
    const d2 = await o.dropout(x, { p: 0.5, generator: g }).read();
    expect(Array.from(d1)).toEqual(Array.from(a));
    expect(Array.from(d2)).not.toEqual(Array.from(d1));
  });

  it('backpropagates through the same mask: dL/dx = gout * mask / (1 - p)', async () => {
    const rng = new CpuRandom(5);
    const xs = Array.from({ length: 300 }, () => rng.normal() + 3);
    const w = Array.from({ length: 300 }, () => rng.normal());
    const x = tensor(xs, [3, 100]);
    const wt = tensor(w, [3, 100]);
    const p = 0.4;
    const [gx] = o.grad((t) => {
      const y = o.dropout(t, { p, generator: new Generator(3) });
      return o.sum(o.mul(y, wt));
    }, [x]);
    const yv = await o.dropout(x, { p, generator: new Generator(3) }).read();
    const want = xs.map((_, i) => (yv[i] === 0 ? 0 : w[i]! / (1 - p)));
    expectClose(await gx!.read(), want, 1e-6, 1e-6, 'dL/dx');
    expect(want.filter((v) => v === 0).length).toBeGreaterThan(50);
  });

  it('is the identity in evaluation mode and at p = 0 (returns x itself, draws nothing)', () => {
    const x = tensor([1, 2, 3]);
    const g = new Generator(1);
    expect(o.dropout(x, { p: 0.5, training: false, generator: g })).toBe(x);
    expect(o.dropout(x, { p: 0, generator: g })).toBe(x);
    expect(g.getState().offset).toBe(0);
  });

  it('refuses p outside [0, 1] and a mask of another shape', () => {
    const x = tensor([1, 2, 3]);
    expect(() => o.dropout(x, { p: 1.5 })).toThrow(/dropout: p is the drop probability and must be in \[0, 1\], got 1.5/);
    expect(() => o.dropout(x, { p: -0.1, training: false })).toThrow(/got -0.1/);
    expect(() => o.dropoutMasked(x, tensor([1, 0]), { p: 0.5 })).toThrow(/dropoutMasked: mask has shape \[2\], expected x's shape \[3\]/);
  });
});
