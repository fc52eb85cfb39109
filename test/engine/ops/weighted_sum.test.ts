/**
 * weighted_sum: the audit (K = 1 to 20, so one pass and chained passes, ranks 0 to 4, size 1, large and small
 * magnitudes, a multi-workgroup d/da), the fold order, the exact cases model soups rely on (one-hot
 * coefficients, the endpoints of an interpolation), dispatch counts, frozen ingredients costing no
 * gradient work, errors, and no leaks.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose, expectSameBits } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { getOp } from '../../../engine/op.js';
import { tensor } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import { grad, valueAndGrad, weightedSum, sum, mul } from '../../../engine/ops/index.js';
import type { Tensor } from '../../../engine/tensor.js';

const dev = useDevice();

function draws(seed: number, K: number, n: number): number[][] {
  const rng = new CpuRandom(seed);
  return Array.from({ length: K }, () => Array.from({ length: n }, () => Math.fround(rng.normal())));
}

const read = async (t: Tensor) => (await t.read()) as Float32Array;

describe('weighted_sum', () => {
  it('passes the audit, with cases for K = 3 and K = 20 (chained passes)', async () => {
    const cases = getOp('weighted_sum')!.audit;
    for (const K of [1, 2, 3, 8, 9, 20]) expect(cases.some((c) => c.shapes.length === K + 1), `an audit case with K = ${K}`).toBe(true);
    const [row] = await runAudit(dev(), { ops: ['weighted_sum'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.gradient).not.toBeNull();
    expect(row!.finiteDiff).not.toBeNull();
  });

  it('sums left to right in k ascending: the float32 fold, and chained passes continue it exactly', async () => {
    const rng = new CpuRandom(5);
    for (const K of [3, 7, 12, 20]) {
      const tv = draws(K, K, 37);
      const av = Array.from({ length: K }, () => Math.fround(rng.uniform(-2, 2)));
      const [a, ts] = [tensor(av), tv.map((t) => tensor(t))];
      const got = await read(weightedSum(a, ts));
      const want = new Float32Array(37);
      for (let i = 0; i < 37; i++) {
        let acc = Math.fround(av[0]! * tv[0]![i]!);
        for (let k = 1; k < K; k++) acc = Math.fround(acc + Math.fround(av[k]! * tv[k]![i]!));
        want[i] = acc;
      }
      // lavapipe rounds every product and sum; a GPU compiler may contract a * t + acc into an FMA (WGSL allows it).
      if (dev().info.fallback) expectSameBits(got, want, `K = ${K}: the fold`);
      else expectClose(got, want, 1e-6, 1e-6, `K = ${K}: the fold`);
      // The chain over passes of 6 equals folding by hand: the first 6, then the running sum plus the next 6, ...
      let partial = weightedSum(tensor(av.slice(0, 6)), ts.slice(0, 6));
      for (let k0 = 6; k0 < K; k0 += 5) partial = weightedSum(tensor([1, ...av.slice(k0, k0 + 5)]), [partial, ...ts.slice(k0, k0 + 5)]);
      expectSameBits(got, await read(partial), `K = ${K}: chained passes vs the fold by hand`);
    }
  });

  it('returns the chosen tensor bit for bit for one-hot coefficients, -0s included, even when others hold inf or NaN; +0 for no coefficient', async () => {
    const K = 20;
    const ts = draws(7, K, 9).map((t, k) => (k % 2 ? t.map((v, i) => (i === 4 ? Infinity : i === 5 ? NaN : v)) : t));
    for (const k of [0, 5, 6, 13, 19]) {
      ts[k] = [-0, 0, -0, 1.5, -Infinity, Infinity, 3e-39, -2, 0.1].map(Math.fround);
      const a = Array.from({ length: K }, (_, j) => (j === k ? 1 : j % 3 ? 0 : -0));
      const got = await read(weightedSum(tensor(a), ts.map((t) => tensor(t))));
      expectSameBits(got, Float32Array.from(ts[k]!), `one-hot at ${k} of ${K}`);
    }
    // No term at all: +0, whatever the tensors hold.
    const none = await read(weightedSum(tensor(new Array(K).fill(-0)), ts.map((t) => tensor(t))));
    expectSameBits(none, new Float32Array(9), 'all coefficients 0');
  });

  it('gives the endpoints of the interpolation a = [1 - t, t] exactly at t = 0 and t = 1', async () => {
    const [p, q] = draws(8, 2, 257).map((t) => tensor(t, [257]));
    for (const [t, end] of [[0, p], [1, q]] as const) {
      expectSameBits(await read(weightedSum(tensor([1 - t, t]), [p!, q!])), await read(end!), `t = ${t}`);
    }
  });

  it('is one dispatch while K fits a pass (6 tensors), and one more per 6 beyond', () => {
    for (const [K, passes] of [[1, 1], [3, 1], [6, 1], [7, 2], [12, 2], [20, 4]] as const) {
      scope(() => {
        const a = tensor(new Array(K).fill(0.5));
        const ts = draws(K, K, 10).map((t) => tensor(t));
        const before = dev().stats().dispatches;
        weightedSum(a, ts);
        expect(dev().stats().dispatches - before, `K = ${K}`).toBe(passes);
      });
    }
  });

  it('costs frozen ingredients nothing: d/da alone is one dispatch per pass (small tensors), none per tensor', () => {
    scope(() => {
      const K = 20;
      const ts = draws(9, K, 100).map((t) => tensor(t));
      const a = tensor(new Array(K).fill(0.05));
      const g = tensor(draws(10, 1, 100)[0]!);
      const before = dev().stats().dispatches;
      grad((a) => weightedSum(a, ts), [a], { seed: g });
      // 4 forward passes, 4 dot-product passes; nothing for the 20 frozen tensors.
      expect(dev().stats().dispatches - before).toBe(8);
    });
  });

  it('gradients agree with the same sum written with mul and sum, to a and to each tensor', async () => {
    const K = 8;
    const [tsv, gv] = [draws(11, K, 30), draws(12, 1, 30)[0]!];
    const coef = (k: number) => (k === 2 ? 0 : (k - 3.5) / 4);
    const a = tensor(Array.from({ length: K }, (_, k) => coef(k)));
    const ts = tsv.map((t) => tensor(t, [5, 6]));
    const g = tensor(gv, [5, 6]);
    const got = valueAndGrad((a, ...ts) => weightedSum(a, ts), [a, ...ts], { seed: g }).grads;
    const want = [ts.map((t) => sum(mul(g, t))), ts.map((_, k) => mul(g, tensor(coef(k))))];
    const da = await read(got[0]!);
    for (let k = 0; k < K; k++) {
      expect(da[k], `d/da[${k}]`).toBeCloseTo((await read(want[0]![k]!))[0]!, 4);
      // a[2] = 0 drops ts[2] from the sum, so its gradient is +0 where g * 0 would be -0 for negative g.
      expectSameBits(await read(got[k + 1]!), k === 2 ? new Float32Array(30) : await read(want[1]![k]!), `d/dts[${k}]`);
    }
  });

  it('refuses a wrong K, mismatched shapes, non-float32 inputs and an empty list, naming the argument', () => {
    const t = tensor([1, 2, 3]);
    expect(() => weightedSum(tensor([1, 2]), [t, t, t])).toThrow(/weightedSum: a has shape \[2\], expected \[3\] \(one coefficient per tensor\)/);
    expect(() => weightedSum(tensor([[1, 2]]), [t, t])).toThrow(/weightedSum: a has shape \[1, 2\], expected \[2\]/);
    expect(() => weightedSum(tensor([1, 2]), [t, tensor([1, 2])])).toThrow(/weightedSum: ts\[1\] has shape \[2\], expected ts\[0\]'s shape \[3\]/);
    expect(() => weightedSum(tensor([1, 2], [2], { dtype: 'int32' }), [t, t])).toThrow(/weightedSum: a must be float32, got int32/);
    expect(() => weightedSum(tensor([1, 2]), [t, tensor([1, 2, 3], [3], { dtype: 'int32' })])).toThrow(/weightedSum: ts\[1\] must be float32, got int32/);
    expect(() => weightedSum(tensor([]), [])).toThrow(/weightedSum: needs a coefficient tensor and at least one tensor/);
  });

  it('leaks no tensors through a forward and backward', () => {
    const a = tensor([0.5, -1, 2, 0, 1, 1, 1, 1, 3]);
    const ts = draws(13, 9, 5000).map((t) => tensor(t));
    const before = dev().stats();
    scope(() => { valueAndGrad((a, ...ts) => weightedSum(a, ts), [a, ...ts], { seed: ts[0] }); });
    const after = dev().stats();
    expect([after.liveTensors, after.liveBytes]).toEqual([before.liveTensors, before.liveBytes]);
  });
});
