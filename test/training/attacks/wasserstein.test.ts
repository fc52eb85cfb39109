/**
 * W-PGD, W-FGSM, W-PGD-budget and Upsilon (METHODS §4): the direction rule against its formula, the global W_2
 * budget (equality when it binds, per-batch processing equal to one batch), W-PGD below pointwise PGD, q = 1 equal
 * to PGD bit for bit, W-FGSM as the closed-form first-order step, Upsilon against analytic gradients of a linear
 * model, BN statistics untouched, nothing leaked.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, expectSameBits, useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import * as o from '../../../engine/ops/index.js';
import { Generator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import type { Tensor } from '../../../engine/tensor.js';
import type { Sequential } from '../../../nn/layers/index.js';
import { pgd, projectedAscent } from '../../../training/attacks/pgd.js';
import { lossAndGrad } from '../../../training/attacks/objective.js';
import { wfgsm, wpgd, type WpgdResult } from '../../../training/attacks/wasserstein.js';
import { wpgdBudget } from '../../../training/attacks/w_budget.js';
import { upsilon, upsilonEstimate } from '../../../training/attacks/upsilon.js';
import { steepestAscent, wProjectBatch, wStepBatch, type WOrder } from '../../../training/attacks/w_step.js';
import { bnNet, fashion, linearModel, trainedMlp, type Data } from './models.js';

const dev = useDevice();

/** Rows of a flat [N * F] array. */
const rowsOf = (a: ArrayLike<number>, n: number): number[][] => {
  const f = a.length / n;
  return Array.from({ length: n }, (_, i) => Array.from({ length: f }, (_, k) => a[i * f + k]!));
};

/** Per-image l_inf (s = 1) or l_2 (s = 2) distances of xAdv to x, in float64 from the float32 values. */
async function radii(x: Tensor, xAdv: Tensor[], s: WOrder): Promise<number[]> {
  const xs = await x.read();
  const adv = new Float32Array(xs.length);
  let at = 0;
  for (const t of xAdv) { const v = await t.read(); adv.set(v, at); at += v.length; }
  const n = x.shape[0]!;
  return rowsOf(Array.from(adv, (v, i) => v - xs[i]!), n).map((d) => (s === 1 ? Math.max(...d.map(Math.abs)) : Math.hypot(...d)));
}

const rms = (v: number[]): number => Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length);

function free(r: WpgdResult): void {
  r.correct.dispose();
  r.xAdv.forEach((t) => t.dispose());
}

describe('the direction rule and one batch step', () => {
  it('steepestAscent is sign(g)|g|^(s-1)(||g||_s + 1e-8)^(q-s) for every (q, s)', async () => {
    const g = [[0.5, -2, 0, 1.5], [0, 0, 0, 0], [-0.25, 3, 1, -1]];
    const gt = tensor(g.flat(), [3, 1, 2, 2]);
    for (const q of [1, 2] as const) {
      for (const s of [1, 2] as const) {
        const want = g.flat().map((v, i) => {
          const row = g[Math.floor(i / 4)]!;
          const norm = s === 1 ? row.reduce((a, b) => a + Math.abs(b), 0) : Math.hypot(...row);
          return Math.sign(v) * Math.abs(v) ** (s - 1) * (norm + 1e-8) ** (q - s);
        });
        expectClose(await steepestAscent(gt, q, s).read(), want, 1e-6, 1e-6, `direction q ${q} s ${s}`);
      }
    }
  });

  it('wProjectBatch caps each l_inf radius, then clips every image at kappa times its capped radius (kappa from their RMS)', async () => {
    const f = 5;
    const delta = 0.03;
    const cap = 0.06;
    // Image i: pixels at fractions of its radius r_i (signs alternate); pixels 0.3 + 0.1 k, so none leaves [0, 1].
    const r = [0.01, 0.02, 0.2, 0.05];
    const frac = [1, -0.5, 0.25, -1, 0];
    const xs = r.flatMap(() => frac.map((_, k) => 0.3 + 0.1 * k));
    const ds = r.flatMap((ri) => frac.map((u) => u * ri));
    const x = tensor(xs, [4, f]);
    const xNew = tensor(xs.map((v, i) => v + ds[i]!), [4, f]);
    const capped = r.map((v) => Math.min(v, cap));
    const kappa = Math.min(1, delta / (rms(capped) + 1e-8));
    const want = xs.map((v, i) => {
      const m = kappa * capped[Math.floor(i / f)]!;
      return v + Math.min(m, Math.max(-m, ds[i]!));
    });
    expectClose(await wProjectBatch(x, xNew, { q: 2, s: 1, delta }, { cap }).read(), want, 2e-7, 0, 'capped contraction');
    // q = 1: the pointwise box, every pixel clipped at delta.
    expectClose(await wProjectBatch(x, xNew, { q: 1, s: 1, delta }).read(), xs.map((v, i) => v + Math.min(delta, Math.max(-delta, ds[i]!))), 2e-7, 0, 'pointwise box');
  });

  it('wStepBatch (q = 2) puts a batch on its own W_2 ball: RMS of the radii = delta, each image clipped at kappa * its radius', async () => {
    // Pixels inside (0.3, 0.7), steps of size <= 0.2: nothing reaches 0 or 1, so only the W_2 contraction acts.
    const n = 6;
    const f = 8;
    const xs = Array.from({ length: n * f }, (_, i) => 0.3 + 0.4 * ((i * 0.618) % 1));
    const gs = Array.from({ length: n * f }, (_, i) => Math.sin(3 * i + 1) * (1 + 0.5 * Math.floor(i / f)));
    const x = tensor(xs, [n, f]);
    const g = tensor(gs, [n, f]);
    const delta = 0.05;
    for (const s of [1, 2] as const) {
      const out = await wStepBatch(x, x, g, { q: 2, s, delta, alpha: 3 * delta }).read();
      const d = rowsOf(Array.from(out, (v, i) => v - xs[i]!), n);
      const r = d.map((row) => (s === 1 ? Math.max(...row.map(Math.abs)) : Math.hypot(...row)));
      expect(Math.abs(rms(r) - delta) / delta, `s ${s}: RMS radius ${rms(r)}`).toBeLessThan(2e-6);
      // The first-order shape: s = 1, image i moves by sign(g) * a radius proportional to ||g_i||_1.
      const g1 = rowsOf(gs, n).map((row) => row.reduce((a, b) => a + Math.abs(b), 0));
      const g2 = rowsOf(gs, n).map((row) => Math.hypot(...row));
      const share = (s === 1 ? g1 : g2).map((v) => v / rms(s === 1 ? g1 : g2));
      expectClose(r, share.map((v) => v * delta), 1e-6, 1e-4, `s ${s}: radii proportional to ||g_i||_s`);
    }
  });
});

describe('W-PGD on a trained model', () => {
  let model: Sequential;
  let data: Data;
  beforeAll(async () => {
    model = await trainedMlp();
    data = fashion('test', 256);
  });

  it('the global W_2 budget holds with equality when it binds (s = 1 and s = 2), and stays inside it when it does not', async () => {
    for (const [s, delta] of [[1, 0.05], [2, 0.5]] as const) {
      // alpha = 2 delta: the first step already has W_2 length 2 delta, so the contraction binds at every iterate.
      const r = await wpgd(model, data, { q: 2, s, delta, steps: 3, alpha: 2 * delta, loss: 'ce' });
      const rad = await radii(data.x, r.xAdv, s);
      expect(r.bestStep, 'an attacked iterate is the best').toBeGreaterThan(0);
      expect(Math.abs(r.wDistance - delta) / delta, `s ${s}: reported W_2 ${r.wDistance}`).toBeLessThan(2e-6);
      expect(Math.abs(rms(rad) - delta) / delta, `s ${s}: W_2 of xAdv ${rms(rad)}`).toBeLessThan(5e-6);
      expect(Math.max(...rad), 'some images move far more than delta (it is a budget, not a radius)').toBeGreaterThan(2 * delta);
      free(r);
      // The reference's order (project, then clamp) can only end inside the ball.
      const ref = await wpgd(model, data, { q: 2, s, delta, steps: 3, alpha: 2 * delta, loss: 'ce', clampFirst: false });
      expect(rms(await radii(data.x, ref.xAdv, s))).toBeLessThanOrEqual(delta * (1 + 5e-6));
      free(ref);
    }
    // Steps too small to reach the budget: no contraction, the set moves 2 alpha at most.
    const small = await wpgd(model, data, { q: 2, s: 1, delta: 0.05, steps: 2, alpha: 0.005, loss: 'ce' });
    expect(small.wDistance).toBeLessThanOrEqual(0.01 * (1 + 1e-6));
    expect(small.wDistance).toBeGreaterThan(0.005);
    free(small);
  });

  it('normalises and projects over the whole set: batches of 32 give the result of one batch of 256, and their own RMS radii differ', async () => {
    const opts = { q: 2, s: 1, delta: 0.05, steps: 8, loss: 'redlr' } as const;
    const one = await wpgd(model, data, { ...opts, batchSize: 256 });
    const many = await wpgd(model, data, { ...opts, batchSize: 32 });
    expect(many.xAdv.length).toBe(8);
    expect(many.trajectory).toEqual(one.trajectory);
    expect(many.bestStep).toBe(one.bestStep);
    const a = await radii(data.x, one.xAdv, 1);
    const b = await radii(data.x, many.xAdv, 1);
    expectClose(b, a, 1e-6, 1e-4, 'per-image radii, 8 batches vs 1');
    const perBatch = Array.from({ length: 8 }, (_, k) => rms(b.slice(32 * k, 32 * k + 32)));
    expect(Math.max(...perBatch) / Math.min(...perBatch), `per-batch RMS radii ${perBatch.map((v) => v.toFixed(4)).join(' ')}: one budget for all, not one per batch`).toBeGreaterThan(1.05);
    free(one);
    free(many);
  });

  it('W-PGD ReDLR reaches an accuracy at most pointwise PGD\'s at the same delta; CE is reported beside it', async () => {
    const delta = 0.05;
    const p = pgd(model, data.x, data.y, { norm: 'linf', eps: delta, steps: 20, generator: new Generator(5) });
    const f = await p.fooled.read();
    const pointwise = 1 - Array.from(f).reduce((a, v) => a + v, 0) / f.length;
    scope(() => [p.xAdv, p.fooled, p.loss].forEach((t) => t.dispose()));
    const w = await wpgd(model, data, { q: 2, s: 1, delta, steps: 20, loss: 'redlr' });
    const ce = await wpgd(model, data, { q: 2, s: 1, delta, steps: 20, loss: 'ce' });
    expect(w.accuracy, `W-PGD ReDLR ${w.accuracy} vs PGD ${pointwise} (CE ${ce.accuracy})`).toBeLessThanOrEqual(pointwise);
    expect(w.trajectory[0], 'iterate 0 is the clean set').toBeGreaterThan(0.7);
    expect(w.accuracy).toBe(Math.min(...w.trajectory));
    // The per-example mask is that of the best iterate.
    const c = await w.correct.read();
    expect(Array.from(c).reduce((a, v) => a + v, 0) / c.length).toBe(w.accuracy);
    free(w);
    free(ce);
  });

  it('for q = 1, s = 1 is PGD from x with the same steps and step size, bit for bit; q = 1, s = 2 is L2 PGD up to the 1e-8 guard', async () => {
    const ce = (z: Tensor) => o.crossEntropy(model.forward(z), data.y, { reduction: 'sum' });
    const delta = 0.03;
    const w = await wpgd(model, data, { q: 1, s: 1, delta, steps: 6, alpha: 0.01, loss: 'ce' });
    expect(w.bestStep, 'the best iterate is an attacked one').toBeGreaterThan(0);
    const want = projectedAscent(ce, data.x, { eps: delta, alpha: 0.01, steps: w.bestStep, start: 'none', generator: new Generator(0) }, 'none');
    expectSameBits(await w.xAdv[0]!.read() as Float32Array, await want.read() as Float32Array, `W-PGD iterate ${w.bestStep} vs PGD`);
    expect(w.wDistance).toBeLessThanOrEqual(delta * (1 + 1e-6));
    free(w);
    const w2 = await wpgd(model, data, { q: 1, s: 2, delta: 0.5, steps: 4, alpha: 0.2, loss: 'ce' });
    const want2 = projectedAscent(ce, data.x, { norm: 'l2', eps: 0.5, alpha: 0.2, steps: w2.bestStep, start: 'none', generator: new Generator(0) }, 'none');
    // The reference's direction g/(||g|| + 1e-8) against PGD's g/||g||: steps of confidently classified images,
    // whose CE gradients have norms near 1e-6, are up to 1% shorter; everything else agrees to float32 rounding.
    expectClose(await w2.xAdv[0]!.read(), await want2.read(), 1e-3, 0, `L2: W-PGD iterate ${w2.bestStep} vs PGD`);
    // The reference's sphere "projection" puts every attacked image at distance delta exactly (before the clamp).
    const sphere = await wpgd(model, data, { q: 1, s: 2, delta: 0.5, steps: 4, alpha: 0.2, loss: 'ce', l2Pointwise: 'sphere' });
    expect(sphere.wDistance).toBeLessThanOrEqual(0.5 * (1 + 1e-6));
    [w2, sphere].forEach(free);
  });

  it('W-FGSM is the closed-form first-order step x + delta sign(g_i) ||g_i||_1 / sqrt(mean ||g||_1^2), clamped', async () => {
    const n = 32;
    const small = { x: data.x.slice(0, 0, n), y: data.y.slice(0, 0, n) };
    const delta = 0.05;
    const r = await wfgsm(model, small, { q: 2, s: 1, delta, loss: 'ce' });
    const g = await scope(() => lossAndGrad(model, small.x, (z) => o.crossEntropy(z, small.y, { reduction: 'none' })).grad).read();
    const xs = await small.x.read();
    const g1 = rowsOf(g, n).map((row) => row.reduce((a, b) => a + Math.abs(b), 0));
    const u = Math.sqrt(g1.reduce((a, v) => a + (v + 1e-8) ** 2, 0) / n);
    const f = xs.length / n;
    const want = Array.from(xs, (v, i) => Math.min(1, Math.max(0, v + (delta * Math.sign(g[i]!) * (g1[Math.floor(i / f)]! + 1e-8)) / (u + 1e-8))));
    expect(r.bestStep).toBe(1);
    expectClose(await r.xAdv[0]!.read(), want, 2e-6, 0, 'W-FGSM');
    free(r);
  });

  it('W-PGD-budget keeps the W_2 cost within delta and lowers accuracy', async () => {
    const r = await wpgdBudget(model, data, { delta: 0.05, steps: 6, batchSize: 100 });
    const rad = await radii(data.x, r.xAdv, 1);
    expect(rms(rad)).toBeLessThanOrEqual(0.05 * (1 + 5e-6));
    expect(Math.abs(rms(rad) - r.wDistance)).toBeLessThan(1e-6);
    expect(r.accuracy, `budget attack ${r.accuracy}, clean ${r.trajectory[0]}`).toBeLessThan(0.7);
    expect(r.xAdv.map((t) => t.shape[0])).toEqual([100, 100, 56]);
    free(r);
  });

  it('refuses a bad q, s, delta, loss or batch size, naming it', async () => {
    await expect(wpgd(model, data, { q: 3 as never, s: 1, delta: 0.1 })).rejects.toThrow(/q must be 1 .* or 2 .*got 3/);
    await expect(wpgd(model, data, { q: 2, s: 0 as never, delta: 0.1 })).rejects.toThrow(/s must be 1 .*got 0/);
    await expect(wpgd(model, data, { q: 1, s: 1, delta: 8 })).rejects.toThrow(/delta above 1 .*got 8/);
    await expect(wpgd(model, data, { q: 2, s: 1, delta: 0.1, loss: 'kl' as never })).rejects.toThrow(/loss must be one of ce, dlr, redlr, got "kl"/);
    await expect(wpgd(model, data, { q: 2, s: 1, delta: 0.1, batchSize: 0 })).rejects.toThrow(/batchSize must be an integer >= 1, got 0/);
  });

  it('leaks nothing over repeated runs of every attack', async () => {
    const run = async () => {
      free(await wpgd(model, data, { q: 2, s: 1, delta: 0.05, steps: 2, batchSize: 100 }));
      free(await wpgd(model, data, { q: 1, s: 2, delta: 0.5, steps: 2, batchSize: 100, l2Pointwise: 'sphere' }));
      free(await wpgd(model, data, { q: 2, s: 2, delta: 0.5, steps: 2, batchSize: 100, clampFirst: false, cap: 1 }));
      free(await wpgdBudget(model, data, { delta: 0.05, steps: 2, batchSize: 100 }));
      await upsilon(model, data, { q: 2, s: 1, batchSize: 100 });
    };
    await run();
    await dev().sync();
    const before = dev().stats().liveTensors;
    await run();
    await dev().sync();
    expect(dev().stats().liveTensors).toBe(before);
  });
});

describe('Upsilon', () => {
  it('matches the analytic per-example gradients of a linear model: (mean ||W^T (softmax - onehot)||_s^q)^(1/q), with A, V(0), W(0)', async () => {
    const k = 3;
    const d = 8;
    const w = Array.from({ length: k }, (_, c) => Array.from({ length: d }, (_, j) => Math.sin(1 + c * d + j)));
    const b = [0.1, -0.2, 0.05];
    const model = linearModel(w, b);
    const n = 10;
    const xs = Array.from({ length: n * d }, (_, i) => (i * 0.377) % 1);
    const labels = Int32Array.from({ length: n }, (_, i) => i % k);
    const data = { x: tensor(xs, [n, 1, 2, 4]), y: tensor(labels, [n]) };
    const per = rowsOf(xs, n).map((x, i) => {
      const z = w.map((row, c) => row.reduce((a, v, j) => a + v * x[j]!, b[c]!));
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const p = e.map((v) => v / e.reduce((a, u) => a + u, 0));
      const g = Array.from({ length: d }, (_, j) => p.reduce((a, pc, c) => a + (pc - (c === labels[i] ? 1 : 0)) * w[c]![j]!, 0));
      return { g, loss: -Math.log(p[labels[i]!]!), wrong: z.indexOf(m) !== labels[i] };
    });
    for (const q of [1, 2] as const) {
      for (const s of [1, 2] as const) {
        const norms = per.map((r) => (s === 1 ? r.g.reduce((a, v) => a + Math.abs(v), 0) : Math.hypot(...r.g)));
        const want = (norms.reduce((a, v) => a + v ** q, 0) / n) ** (1 / q);
        const u = await upsilon(model, data, { q, s, batchSize: 4 });
        expect(Math.abs(u.upsilon - want) / want, `q ${q} s ${s}: ${u.upsilon} vs ${want}`).toBeLessThan(1e-5);
      }
    }
    const u = await upsilon(model, data, { q: 2, s: 1 });
    const wrong = per.filter((r) => r.wrong);
    expect(wrong.length, 'the case has misclassified images').toBeGreaterThan(0);
    expect(u.cleanAccuracy).toBeCloseTo(1 - wrong.length / n, 6);
    expect(u.cleanLoss).toBeCloseTo(per.reduce((a, r) => a + r.loss, 0) / n, 5);
    expect(u.conditionalLoss).toBeCloseTo(wrong.reduce((a, r) => a + r.loss, 0) / wrong.length, 5);
    const est = upsilonEstimate(u, 0.01);
    expect(est.kind).toBe('estimate');
    expect(est.note).toMatch(/estimate.*not a bound/);
    expect(est.raw).toBeCloseTo(u.cleanAccuracy - (0.01 * u.upsilon) / u.conditionalLoss, 10);
  });
});

it('never updates BN running statistics (a BN net in train mode) and computes no weight gradients', async () => {
  const m = bnNet(2);
  const d = fashion('train', 24);
  const before = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  m.train();
  free(await wpgd(m, d, { q: 2, s: 1, delta: 0.05, steps: 2, batchSize: 10 }));
  free(await wfgsm(m, d, { q: 2, s: 2, delta: 0.5, batchSize: 10, bnMode: 'train_frozen' }));
  free(await wpgdBudget(m, d, { delta: 0.05, steps: 2, batchSize: 10 }));
  await upsilon(m, d, { q: 2, s: 1, batchSize: 10 });
  const after = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  after.forEach((a, i) => expect(Array.from(a), m.namedBuffers()[i]![0]).toEqual(Array.from(before[i]!)));
  for (const p of m.parameters()) expect(p.grad).toBeNull();
  expect(m.training, 'the model mode is restored').toBe(true);
});
