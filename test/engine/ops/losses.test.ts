/**
 * Softmax, log-softmax, cross-entropy, TRADES' KL and (Re)DLR: hand-checkable values and gradients, PyTorch's
 * conventions (label smoothing, reductions, KL direction, DLR's sorted positions and ties), finite results at
 * logits of 1e3-1e4 where naive formulas give inf/NaN, and argument errors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import * as o from '../../../engine/ops/index.js';
import type { Tensor } from '../../../engine/tensor.js';

useDevice();

const labelsOf = (v: number[]): Tensor => tensor(new Int32Array(v));

/** f's value (flattened) and the gradients of sum(seed * f) (seed: the flat cotangent, default 1) w.r.t. `inputs`. */
async function run(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], seed?: number[]): Promise<{ y: number[]; shape: readonly number[]; grads: number[][] }> {
  let shape: readonly number[] = [];
  const flat = (...xs: Tensor[]) => { const y = f(...xs); shape = y.shape; return o.reshape(y, [-1]); };
  const r = scope(() => {
    const out = o.valueAndGrad(flat, inputs, { seed: tensor(seed ?? [1]) });
    return [out.value, ...out.grads];
  });
  try {
    const vals = await Promise.all(r.map(async (t) => [...(await t.read())]));
    return { y: vals[0]!, shape, grads: vals.slice(1) };
  } finally {
    r.forEach((t) => t.dispose());
  }
}

/** float64 log-softmax of one row. */
function logSoftmax64(v: number[]): number[] {
  const m = Math.max(...v);
  const lse = m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
  return v.map((x) => x - lse);
}

/** Deterministic float32-exact pseudo-random logits. */
function logits(n: number, k: number, scale = 1, seed = 1): number[][] {
  let s = seed;
  const next = () => { s = (s * 16807) % 2147483647; return s / 2147483647; };
  return Array.from({ length: n }, () => Array.from({ length: k }, () => Math.fround((next() * 2 - 1) * 3 * scale)));
}

describe('softmax and log_softmax', () => {
  it('are e^x / sum e^x and x - log sum e^x along dim 1, with their gradients', async () => {
    const rows = [[1, 2, 3], [-1, 0, 0.5]];
    const g = [0.3, -1, 2, 1, 1, -0.5];
    const sm = await run((x) => o.softmax(x), [tensor(rows)], g);
    const ls = await run((x) => o.logSoftmax(x), [tensor(rows)], g);
    const lsw = rows.flatMap(logSoftmax64);
    expectClose(ls.y, lsw, 1e-6, 1e-6, 'log_softmax');
    expectClose(sm.y, lsw.map(Math.exp), 1e-7, 1e-6, 'softmax');
    // d/dx of sum g*softmax = s (g - sum g s); of sum g*log_softmax = g - s sum g.
    const want = (log: boolean) => [0, 1].flatMap((r) => {
      const s = lsw.slice(3 * r, 3 * r + 3).map(Math.exp);
      const gr = g.slice(3 * r, 3 * r + 3);
      const dot = gr.reduce((a, v, j) => a + v * s[j]!, 0);
      const sum = gr.reduce((a, v) => a + v, 0);
      return s.map((sj, j) => (log ? gr[j]! - sj * sum : sj * (gr[j]! - dot)));
    });
    expectClose(sm.grads[0]!, want(false), 1e-6, 1e-5, 'softmax gradient');
    expectClose(ls.grads[0]!, want(true), 1e-6, 1e-5, 'log_softmax gradient');
  });

  it('stay exact at logits of 1e3 and 1e4 (no inf - inf, no log 0)', async () => {
    const x = tensor([[1000, 0, -1000], [-1e4, 1e4, 1e4]]);
    expect(await o.softmax(x).read()).toEqual(new Float32Array([1, 0, 0, 0, 0.5, 0.5]));
    expectClose(await o.logSoftmax(x).read(), [0, -1000, -2000, -2e4 - Math.LN2, -Math.LN2, -Math.LN2], 1e-3, 1e-7, 'log_softmax');
  });

  it('work along any dim (dim 0, dim 1 of a 3-D tensor, negative dims)', async () => {
    const data = Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(i) * 3));
    const x = tensor(data, [2, 3, 4]);
    for (const dim of [0, 1, 2, -1, -3]) {
      const d = (dim + 3) % 3;
      const want = new Array<number>(24);
      const stride = [12, 4, 1][d]!;
      const len = [2, 3, 4][d]!;
      for (let i = 0; i < 24; i++) {
        const start = i - (Math.floor(i / stride) % len) * stride;
        const row = Array.from({ length: len }, (_, j) => data[start + j * stride]!);
        want[i] = logSoftmax64(row)[Math.floor(i / stride) % len]!;
      }
      expectClose(await o.logSoftmax(x, dim).read(), want, 1e-6, 1e-6, `log_softmax dim ${dim}`);
    }
    expect(() => o.softmax(x, 3)).toThrow(/softmax: dim must be an integer in \[-3, 2\] for a rank-3 input, got 3/);
  });

  it('rows longer than a thread handles (teams of 8 and 64 threads) sum to 1', async () => {
    for (const k of [40, 300, 1000]) {
      const z = logits(3, k, 10, k);
      const y = await o.softmax(tensor(z)).read();
      expectClose(y, z.flatMap(logSoftmax64).map(Math.exp), 1e-7, 1e-5, `softmax K=${k}`);
    }
  });
});

describe('cross_entropy', () => {
  it("mean of logsumexp(z) - z_y over rows; gradient (softmax - onehot) / N", async () => {
    const z = [[1, 2, 3], [1, 1, 1]];
    const r = await run((t) => o.crossEntropy(t, labelsOf([2, 0])), [tensor(z)]);
    expect(r.shape).toEqual([]);
    expectClose(r.y, [(Math.log(Math.E + Math.E ** 2 + Math.E ** 3) - 3 + Math.log(3)) / 2], 0, 1e-6, 'loss');
    const s0 = logSoftmax64(z[0]!).map(Math.exp);
    expectClose(r.grads[0]!, [s0[0]! / 2, s0[1]! / 2, (s0[2]! - 1) / 2, 1 / 6 - 0.5, 1 / 6, 1 / 6], 1e-7, 1e-6, 'gradient');
  });

  it("label smoothing mixes the target as PyTorch does: (1 - ls) onehot + ls / K", async () => {
    const z = logits(4, 5);
    const y = [0, 4, 2, 2];
    const ls = 0.1;
    const r = await run((t) => o.crossEntropy(t, labelsOf(y), { reduction: 'none', labelSmoothing: ls }), [tensor(z)], [1, -2, 0.5, 3]);
    const lp = z.map(logSoftmax64);
    expectClose(r.y, lp.map((l, i) => -(1 - ls) * l[y[i]!]! - (ls / 5) * l.reduce((a, v) => a + v, 0)), 1e-6, 1e-6, 'per-row loss');
    const gw = lp.flatMap((l, i) => l.map((v, j) => [1, -2, 0.5, 3][i]! * (Math.exp(v) - (j === y[i] ? 1 - ls : 0) - ls / 5)));
    expectClose(r.grads[0]!, gw, 1e-6, 1e-5, 'gradient rows scaled by the per-row seed');
  });

  it("reductions: 'none' is [N], 'sum' its sum, 'mean' its mean", async () => {
    const z = tensor(logits(6, 10));
    const lab = labelsOf([0, 9, 3, 3, 7, 1]);
    const none = [...(await o.crossEntropy(z, lab, { reduction: 'none' }).read())];
    expect(none).toHaveLength(6);
    const total = none.reduce((a, v) => a + v, 0);
    expectClose(await o.crossEntropy(z, lab, { reduction: 'sum' }).read(), [total], 0, 1e-6, 'sum');
    expectClose(await o.crossEntropy(z, lab).read(), [total / 6], 0, 1e-6, 'mean');
    const gs = await run((t) => o.crossEntropy(t, lab, { reduction: 'sum' }), [z]);
    const gm = await run((t) => o.crossEntropy(t, lab), [z]);
    expectClose(gm.grads[0]!, gs.grads[0]!.map((v) => v / 6), 1e-8, 1e-6, 'mean gradient = sum gradient / N');
  });

  it('is exact and finite at logits of 1e4, with and without smoothing', async () => {
    const z = tensor([[1e4, 0, -1e4], [-1e4, -1e4, 1e4]]);
    const r = await run((t) => o.crossEntropy(t, labelsOf([1, 2]), { reduction: 'none' }), [z], [1, 1]);
    expect(r.y).toEqual([1e4, 0]);
    expect(r.grads[0]).toEqual([1, -1, 0, 0, 0, 0]);
    const s = await o.crossEntropy(z, labelsOf([1, 2]), { reduction: 'none', labelSmoothing: 0.1 }).read();
    // row 0: 0.9 * 1e4 + 0.1 * (1e4 - mean z) = 1e4; row 1: 0.1 * (1e4 - (-1e4 / 3)).
    expectClose(s, [1e4, 0.1 * (1e4 + 1e4 / 3)], 0, 1e-6, 'smoothed');
  });

  it('rows handled by thread teams (K = 40, 1000) match float64', async () => {
    for (const k of [40, 1000]) {
      const z = logits(3, k, 5, k);
      const y = [k - 1, 0, 17];
      const got = await o.crossEntropy(tensor(z), labelsOf(y), { reduction: 'none', labelSmoothing: 0.2 }).read();
      const lp = z.map(logSoftmax64);
      expectClose(got, lp.map((l, i) => -0.8 * l[y[i]!]! - (0.2 / k) * l.reduce((a, v) => a + v, 0)), 1e-5, 1e-5, `K=${k}`);
    }
  });

  it('a label outside [0, K) throws at the next read, as PyTorch raises; its row is NaN and the others are exact', async () => {
    const loss = o.crossEntropy(tensor([[0, 0], [0, 0], [0, 0]]), labelsOf([1, 2, -1]), { reduction: 'none' });
    await expect(loss.read()).rejects.toThrow(/^cross_entropy: 2 labels out of range \[0, 2\), the first at index 1|^cross_entropy: label 2 at index 1 is out of range \[0, 2\); 2 labels were out of range$/);
    // Reported once: the next read returns the rows (test/engine/gpu_errors.test.ts has the other cases).
    const got = await loss.read();
    expectClose([got[0]!], [Math.LN2], 0, 1e-6, 'valid row');
    expect(Number.isNaN(got[1]!) && Number.isNaN(got[2]!)).toBe(true);
  });

  it('refuses wrong arguments, naming them', () => {
    const z = tensor([[1, 2], [3, 4]]);
    expect(() => o.crossEntropy(z, tensor([0, 1]))).toThrow(/cross_entropy: input 1 must be int32 \(class labels\), got float32/);
    expect(() => o.crossEntropy(z, labelsOf([0, 1, 1]))).toThrow(/cross_entropy: labels must be \[N\] = \[2\] to match logits \[2, 2\], got shape \[3\]/);
    expect(() => o.crossEntropy(tensor([1, 2]), labelsOf([0]))).toThrow(/cross_entropy: logits must be \[N, K\], got shape \[2\]/);
    expect(() => o.crossEntropy(z, labelsOf([0, 1]), { reduction: 'avg' as never })).toThrow(/reduction must be 'mean', 'sum' or 'none', got 'avg'/);
    expect(() => o.crossEntropy(z, labelsOf([0, 1]), { labelSmoothing: 1.5 })).toThrow(/labelSmoothing must be in \[0, 1\], got 1.5/);
  });
});

describe('trades_kl', () => {
  it('is sum_i KL(softmax(nat_i) || softmax(adv_i)) with d/dadv = q - p and d/dnat = p (l - KL)', async () => {
    // p = (1/2, 1/2), q = (3/4, 1/4): KL = (log(2/3) + log 2) / 2 = log(4/3) / 2.
    const adv = tensor([[Math.log(3), 0]]);
    const nat = tensor([[0, 0]]);
    const r = await run((a, n) => o.tradesKl(a, n), [adv, nat]);
    expect(r.shape).toEqual([]);
    const kl = Math.log(4 / 3) / 2;
    expectClose(r.y, [kl], 0, 1e-6, 'KL');
    expectClose(r.grads[0]!, [0.25, -0.25], 1e-7, 1e-6, 'd/d adv');
    expectClose(r.grads[1]!, [0.5 * (Math.log(2 / 3) - kl), 0.5 * (Math.LN2 - kl)], 1e-7, 1e-5, 'd/d nat');
  });

  it("reduction 'none' gives per-example KLs; divideByBatch divides by N (TRADES' outer loss)", async () => {
    const a = tensor(logits(4, 10, 1, 3));
    const n = tensor(logits(4, 10, 1, 4));
    const rows = [...(await o.tradesKl(a, n, { reduction: 'none' }).read())];
    expect(rows).toHaveLength(4);
    expect(rows.every((v) => v > 0)).toBe(true);
    const total = rows.reduce((s, v) => s + v, 0);
    expectClose(await o.tradesKl(a, n).read(), [total], 0, 1e-6, 'sum');
    expectClose(await o.tradesKl(a, n, { divideByBatch: true }).read(), [total / 4], 0, 1e-6, 'sum / N');
    expectClose(await o.tradesKl(a, n, { reduction: 'none', divideByBatch: true }).read(), rows.map((v) => v / 4), 0, 1e-6, "'none' / N");
  });

  it('is 0 with zero gradients for identical rows, and keeps the tiny KL of nearby rows (TRADES start x + 0.001 N)', async () => {
    const z = logits(3, 10, 2, 5);
    const same = await run((a, n) => o.tradesKl(a, n), [tensor(z), tensor(z)]);
    expectClose(same.y, [0], 1e-12, 0, 'KL of identical rows');
    expectClose(same.grads[0]!, z.flat().map(() => 0), 1e-7, 0, 'd/d adv');
    expectClose(same.grads[1]!, z.flat().map(() => 0), 1e-7, 0, 'd/d nat');
    const near = z.map((row, i) => row.map((v, j) => Math.fround(v + 1e-3 * Math.cos(7 * i + j))));
    const got = await o.tradesKl(tensor(near), tensor(z), { reduction: 'none' }).read();
    const want = z.map((row, i) => {
      const lp = logSoftmax64(row);
      const lq = logSoftmax64(near[i]!);
      return lp.reduce((s, v, j) => s + Math.exp(v) * (v - lq[j]!), 0);
    });
    expect(Math.min(...want)).toBeLessThan(1e-6);
    // Summing p log(p/q) in float32 would leave errors of ~1e-7, as large as these KLs themselves.
    expectClose(got, want, 0, 1e-4, 'KL of rows 1e-3 apart, relative');
  });

  it('is exact and finite at logits of 1e3 (disjoint one-hot distributions)', async () => {
    const r = await run((a, n) => o.tradesKl(a, n), [tensor([[0, 1000, 0]]), tensor([[1000, 0, 0]])]);
    expectClose(r.y, [1000], 0, 1e-6, 'KL');
    expect(r.grads[0]).toEqual([-1, 1, 0]);
    expect(r.grads[1]!.every((v) => v === 0)).toBe(true);
  });

  it('refuses mismatched shapes', () => {
    expect(() => o.tradesKl(tensor([[1, 2]]), tensor([[1, 2, 3]]))).toThrow(/trades_kl: logitsNat must have logitsAdv's shape \[1, 2\], got \[1, 3\]/);
    expect(() => o.tradesKl(tensor([1, 2]), tensor([1, 2]))).toThrow(/trades_kl: logitsAdv must be \[N, K\], got shape \[2\]/);
  });
});

describe('dlr and redlr', () => {
  // Row 0: z = [3, 1, 2, 0], y = 0 (correct): -(3 - 2) / (3 - 1) = -1/2.
  // Row 1: same z, y = 3 (wrong): -(0 - 3) / (3 - 1) = 3/2.
  const z = [[3, 1, 2, 0], [3, 1, 2, 0]];
  it('DLR = -(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12) per example, sorted positions fixed in the gradient', async () => {
    const r = await run((t) => o.dlr(t, labelsOf([0, 3])), [tensor(z)], [1, 1]);
    expect(r.shape).toEqual([2]);
    expectClose(r.y, [-0.5, 1.5], 0, 1e-6, 'dlr');
    // Row 0: -1/D at y=0, +1/D at the runner-up 2, +n/D^2 at z_(1) (index 0), -n/D^2 at z_(3) (index 1); n = 1, D = 2.
    // Row 1: n = -3: -1/D at 3, +1/D at 0, n/D^2 at 0, -n/D^2 at 1.
    expectClose(r.grads[0]!, [-0.25, -0.25, 0.5, 0, -0.25, 0.75, 0, -0.5], 1e-7, 1e-6, 'dlr gradient');
  });

  it('ReDLR is DLR on correctly classified rows and 0 with zero gradient elsewhere', async () => {
    const r = await run((t) => o.redlr(t, labelsOf([0, 3])), [tensor(z)], [1, 1]);
    expectClose(r.y, [-0.5, 0], 0, 1e-6, 'redlr');
    expect(r.grads[0]!.map((v) => v + 0)).toEqual([-0.25, -0.25, 0.5, 0, 0, 0, 0, 0]);
  });

  it('equal logits (a zero-initialised last layer) stay finite thanks to the 1e-12; ties rank the larger index higher', async () => {
    // All equal: the stable ascending sort puts index K-1 on top, K-2 second, K-3 third.
    const r = await run((t) => o.dlr(t, labelsOf([3, 1])), [tensor([[0, 0, 0, 0], [0, 0, 0, 0]])], [1, 1]);
    expect(r.y.map((v) => v + 0)).toEqual([0, 0]);
    // Row 0: y = 3 = top, runner-up 2; row 1: y = 1, top 3. n = 0, so only -1/D at y and +1/D at the runner-up.
    expectClose(r.grads[0]!, [0, 0, 1e12, -1e12, 0, -1e12, 0, 1e12], 0, 1e-6, 'gradient at ties');
    const re = await o.redlr(tensor([[0, 0, 0, 0], [0, 0, 0, 0]]), labelsOf([3, 1])).read();
    expect([...re].map((v) => v + 0)).toEqual([0, 0]);
  });

  it('is finite and exact at logits of 1e4, and matches float64 for K = 300', async () => {
    const big = await o.dlr(tensor([[1e4, -1e4, 0, 5e3]]), labelsOf([1])).read();
    expectClose(big, [(2e4 + 0) / 1e4], 0, 1e-6, 'dlr at 1e4: -(-1e4 - 1e4) / (1e4 - 0)');
    const zz = logits(2, 300, 1, 9);
    const got = await o.dlr(tensor(zz), labelsOf([5, 299])).read();
    const want = zz.map((row, i) => {
      const y = [5, 299][i]!;
      const sorted = [...row].sort((a, b) => b - a);
      const other = Math.max(...row.filter((_, j) => j !== y));
      return -(row[y]! - other) / (sorted[0]! - sorted[2]! + 1e-12);
    });
    expectClose(got, want, 1e-6, 1e-5, 'dlr K=300');
  });

  it('needs at least 3 classes and int32 labels', () => {
    expect(() => o.dlr(tensor([[1, 2]]), labelsOf([0]))).toThrow(/dlr: needs at least 3 classes, got logits of shape \[1, 2\]/);
    expect(() => o.redlr(tensor([[1, 2, 3]]), tensor([0]))).toThrow(/redlr: input 1 must be int32/);
  });
});
