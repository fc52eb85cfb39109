/**
 * batch_norm2d: batch statistics (biased variance) in train modes, PyTorch's running-statistic update
 * (momentum, unbiased variance) only in 'train', running statistics in 'eval', gradients through the batch
 * statistics, numerically stable statistics on channels with a large mean and a tiny spread, and PyTorch 1.13
 * reference cases.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { runCaseFiles } from '../../../engine/audit_cases.js';
import { getCaseAdapter } from '../../../engine/case_adapters.js';
import { compare, DEFAULT_TOLERANCE } from '../../../engine/compare.js';
import { tensor } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import { noGrad } from '../../../engine/tape.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import type { Tensor } from '../../../engine/tensor.js';
import * as o from '../../../engine/ops/index.js';
import { batchNorm2d, batchNorm2dStats, type BatchNormMode } from '../../../engine/ops/batch_norm.js';

const dev = useDevice();
const { atol, rtol } = DEFAULT_TOLERANCE;

const draw = (rng: CpuRandom, n: number, f: () => number = () => rng.normal()): number[] => Array.from({ length: n }, () => Math.fround(f()));

/** Float64 batch norm of x [N, C, H, W] (flat), written out per channel. */
function bn64(x: readonly number[], shape: number[], gamma: readonly number[], beta: readonly number[], eps: number, stats?: { mean: number[]; var: number[] }): number[] {
  const [N, C, H, W] = shape as [number, number, number, number];
  const HW = H * W;
  const y = new Array<number>(x.length).fill(0);
  for (let c = 0; c < C; c++) {
    const idx: number[] = [];
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) idx.push((n * C + c) * HW + i);
    const mean = stats ? stats.mean[c]! : idx.reduce((p, i) => p + x[i]!, 0) / idx.length;
    const v = stats ? stats.var[c]! : idx.reduce((p, i) => p + (x[i]! - mean) ** 2, 0) / idx.length;
    for (const i of idx) y[i] = ((x[i]! - mean) / Math.sqrt(v + eps)) * gamma[c]! + beta[c]!;
  }
  return y;
}

/** Central differences of sum(gout * f(x)) in float64, one element at a time. */
function numericGrad(f: (x: number[]) => number[], x: readonly number[], gout: readonly number[], h = 1e-6): number[] {
  const dot = (y: number[]) => y.reduce((p, v, i) => p + v * gout[i]!, 0);
  return x.map((v, i) => {
    const xp = [...x];
    const xm = [...x];
    xp[i] = v + h;
    xm[i] = v - h;
    return (dot(f(xp)) - dot(f(xm))) / (2 * h);
  });
}

describe('batch_norm2d', () => {
  it('passes the audit: forward, gradients and finite differences in all three modes', async () => {
    const [row] = await runAudit(dev(), { ops: ['batch_norm2d'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.gradient).not.toBeNull();
  });

  it('matches the PyTorch 1.13 reference cases (y, running statistics, batch statistics, gradients)', async () => {
    const results = await runCaseFiles(dev(), [join(import.meta.dirname, '../../cases/batch_norm.json')]);
    expect(results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.detail}`)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(8);
  });

  it("'train' normalises with the batch mean and biased variance, and updates the running statistics as PyTorch", async () => {
    // One channel holding 1, 2, 3, 6: mean 3, biased variance 14/4, unbiased 14/3.
    const x = tensor([1, 2, 3, 6], [2, 1, 1, 2]);
    const rm = tensor([0.5]);
    const rv = tensor([2]);
    const v0 = [rm.storage.version, rv.storage.version];
    const y = batchNorm2d(x, tensor([2]), tensor([-1]), rm, rv, { mode: 'train', momentum: 0.25, eps: 1e-5 });
    const r = 1 / Math.sqrt(3.5 + 1e-5);
    expectClose(await y.read(), [-2, -1, 0, 3].map((d) => d * r * 2 - 1), atol, rtol, 'y');
    expectClose(await rm.read(), [0.75 * 0.5 + 0.25 * 3], 1e-7, 1e-6, 'running_mean');
    expectClose(await rv.read(), [0.75 * 2 + 0.25 * (14 / 3)], 1e-7, 1e-6, 'running_var (unbiased batch variance)');
    expect([rm.storage.version, rv.storage.version]).toEqual([v0[0]! + 1, v0[1]! + 1]);
  });

  it("'train_frozen' uses the batch statistics and leaves the running statistics untouched", async () => {
    const rng = new CpuRandom(3);
    const shape = [3, 2, 3, 4];
    const xs = draw(rng, 72);
    const rm = tensor([0.3, -0.2]);
    const rv = tensor([1.5, 0.7]);
    const v0 = [rm.storage.version, rv.storage.version];
    const y = batchNorm2d(tensor(xs, shape), tensor([1.5, 0.5]), tensor([0.1, -0.2]), rm, rv, { mode: 'train_frozen' });
    expectClose(await y.read(), bn64(xs, shape, [1.5, 0.5], [0.1, -0.2], 1e-5), atol, rtol, 'y');
    expect(Array.from(await rm.read())).toEqual([Math.fround(0.3), Math.fround(-0.2)]);
    expect(Array.from(await rv.read())).toEqual([Math.fround(1.5), Math.fround(0.7)]);
    expect([rm.storage.version, rv.storage.version]).toEqual(v0);
  });

  it("'eval' uses the running statistics and leaves them untouched", async () => {
    const rng = new CpuRandom(4);
    const shape = [2, 3, 2, 3];
    const xs = draw(rng, 36);
    const stats = { mean: [0.5, -1, 2].map(Math.fround), var: [0.25, 4, 1.5].map(Math.fround) };
    const rm = tensor(stats.mean);
    const rv = tensor(stats.var);
    const y = batchNorm2d(tensor(xs, shape), tensor([1, 2, -1]), tensor([0, 0.5, 1]), rm, rv, { mode: 'eval', eps: 1e-3 });
    expectClose(await y.read(), bn64(xs, shape, [1, 2, -1], [0, 0.5, 1], 1e-3, stats), atol, rtol, 'y');
    expectClose(await rm.read(), stats.mean, 0, 0, 'running_mean');
    expectClose(await rv.read(), stats.var, 0, 0, 'running_var');
  });

  it.each(['train', 'eval'] as BatchNormMode[])('%s-mode gradients in x, gamma and beta equal float64 finite differences of the forward', async (mode) => {
    const rng = new CpuRandom(mode === 'train' ? 5 : 6);
    const shape = [2, 2, 3, 3];
    const xs = draw(rng, 36);
    const gamma = [1.3, -0.7];
    const beta = [0.2, 0.4];
    const gout = draw(rng, 36);
    const stats = mode === 'eval' ? { mean: [0.1, -0.3].map(Math.fround), var: [0.8, 1.7].map(Math.fround) } : undefined;
    const tx = tensor(xs, shape);
    const tg = tensor(gamma);
    const tb = tensor(beta);
    const rm = tensor(stats?.mean ?? [0, 0]);
    const rv = tensor(stats?.var ?? [1, 1]);
    const { grads } = o.valueAndGrad((x, g, b) => batchNorm2d(x!, g!, b!, rm, rv, { mode }), [tx, tg, tb], { seed: tensor(gout, shape) });
    const f = (x: number[], g = gamma, b = beta) => bn64(x, shape, g, b, 1e-5, stats);
    expectClose(await grads[0]!.read(), numericGrad((x) => f(x), xs, gout), 1e-5, 1e-4, 'dx');
    expectClose(await grads[1]!.read(), numericGrad((g) => f(xs, g), gamma, gout), 1e-5, 1e-4, 'dgamma');
    expectClose(await grads[2]!.read(), numericGrad((b) => f(xs, gamma, b), beta, gout), 1e-5, 1e-4, 'dbeta');
  });

  describe('a channel at 1000 with a spread of 1e-3 (variance far below eps, mean not representable in float32)', () => {
    const shape = [2, 2, 4, 5];
    const rng = new CpuRandom(11);
    const xs = Array.from({ length: 80 }, (_, i) => Math.fround(Math.floor(i / 20) % 2 === 0 ? 1000 + 1e-3 * rng.uniform(-1, 1) : rng.normal()));
    const want = bn64(xs, shape, [1, 1], [0, 0], 1e-5);
    const ch0 = xs.map((_, i) => i).filter((i) => Math.floor(i / 20) % 2 === 0);

    it('is normalised to float32 accuracy, with gradients to match', async () => {
      const tx = tensor(xs, shape);
      const y = batchNorm2d(tx, null, null, null, null, { mode: 'train' });
      expectClose(await y.read(), want, atol, rtol, 'y');
      const gout = draw(rng, 80);
      const [dx] = o.grad((x) => batchNorm2d(x!, null, null, null, null, { mode: 'train' }), [tx], { seed: tensor(gout, shape) });
      expectClose(await dx!.read(), numericGrad((x) => bn64(x, shape, [1, 1], [0, 0], 1e-5), xs, gout), 1e-5 * 400, 1e-4, 'dx');
    });

    it('where one-pass float32 statistics, or the float32-rounded mean, would fail the same tolerance', () => {
      // The same check as above, on two plausible float32 implementations simulated on the CPU.
      let s1 = 0;
      let s2 = 0;
      for (const i of ch0) { s1 = Math.fround(s1 + xs[i]!); s2 = Math.fround(s2 + Math.fround(xs[i]! * xs[i]!)); }
      const m = Math.fround(s1 / ch0.length);
      const onePassVar = Math.fround(Math.fround(s2 / ch0.length) - Math.fround(m * m));
      const mean64 = ch0.reduce((p, i) => p + xs[i]!, 0) / ch0.length;
      const var64 = ch0.reduce((p, i) => p + (xs[i]! - mean64) ** 2, 0) / ch0.length;
      const onePass = ch0.map((i) => (xs[i]! - m) / Math.sqrt(onePassVar + 1e-5));
      const roundedMean = ch0.map((i) => (xs[i]! - Math.fround(mean64)) / Math.sqrt(var64 + 1e-5));
      const ref = ch0.map((i) => want[i]!);
      expect(compare(onePass, ref, DEFAULT_TOLERANCE).pass).toBe(false);
      expect(compare(roundedMean, ref, DEFAULT_TOLERANCE).pass).toBe(false);
    });
  });

  it('two train-mode forwards before one backward (TRADES clean + adversarial) update the running statistics twice and still differentiate', async () => {
    const rng = new CpuRandom(8);
    const shape = [2, 1, 2, 2];
    const a = draw(rng, 8);
    const b = draw(rng, 8);
    const rm = tensor([0]);
    const rv = tensor([1]);
    const mean = (v: number[]) => v.reduce((p, q) => p + q, 0) / v.length;
    const uvar = (v: number[]) => v.reduce((p, q) => p + (q - mean(v)) ** 2, 0) / (v.length - 1);
    const tg = tensor([1.5]);
    const { grads } = o.valueAndGrad((xa, xb, g) => o.add(o.sum(o.square(batchNorm2d(xa!, g!, null, rm, rv, { mode: 'train' }))),
      o.sum(o.square(batchNorm2d(xb!, g!, null, rm, rv, { mode: 'train' })))), [tensor(a, shape), tensor(b, shape), tg]);
    expectClose(await rm.read(), [0.1 * mean(b) + 0.9 * 0.1 * mean(a)], 1e-6, 1e-5, 'running_mean');
    expectClose(await rv.read(), [0.1 * uvar(b) + 0.9 * (0.9 + 0.1 * uvar(a))], 1e-6, 1e-5, 'running_var');
    // sum(xhat^2) is M * var / (var + eps) per batch: d/dgamma of sum((gamma xhat)^2) = 2 gamma (that) summed over both.
    const sq = (v: number[]) => { const m = mean(v); const s = v.reduce((p, q) => p + (q - m) ** 2, 0) / v.length; return (v.length * s) / (s + 1e-5); };
    expectClose(await grads[2]!.read(), [2 * 1.5 * (sq(a) + sq(b))], 1e-5, 1e-4, 'dgamma');
  });

  it('refuses an eval-mode backward after its running statistics were updated in place', () => {
    const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    x.requiresGrad = true;
    const rm = tensor([0]);
    const rv = tensor([1]);
    const y = batchNorm2d(x, null, null, rm, rv, { mode: 'eval' });
    batchNorm2d(tensor([5, 6, 7, 9], [1, 1, 2, 2]), null, null, rm, rv, { mode: 'train' });
    expect(() => o.sum(y).backward()).toThrow(/modified in place/);
  });

  it.each(['train', 'eval'] as BatchNormMode[])('%s mode frees what it saved once its graph is gone (no leaked statistics)', (mode) => {
    const x = tensor(new Array(24).fill(0).map((_, i) => Math.sin(i)), [2, 3, 2, 2]);
    const rm = tensor([0, 0, 0]);
    const rv = tensor([1, 1, 1]);
    const before = dev().stats();
    scope(() => {
      o.grad((t) => o.sum(batchNorm2d(t!, null, null, rm, rv, { mode })), [x]);
      noGrad(() => batchNorm2d(x, null, null, rm, rv, { mode }));
      x.requiresGrad = true;
      batchNorm2d(x, null, null, rm, rv, { mode });
      x.requiresGrad = false;
    });
    expect([dev().stats().liveTensors, dev().stats().liveBytes]).toEqual([before.liveTensors, before.liveBytes]);
  });

  it('batchNorm2dStats gives the batch mean and both variances per channel', async () => {
    const x = tensor([1, 2, 3, 6, 10, 10, 10, 14], [2, 2, 1, 2]);
    const s = batchNorm2dStats(x);
    // Channel 0 holds 1, 2, 10, 10; channel 1 holds 3, 6, 10, 14.
    expectClose(await s.mean.read(), [5.75, 8.25], 1e-6, 1e-6, 'mean');
    expectClose(await s.varBiased.read(), [18.1875, 17.1875], 1e-5, 1e-6, 'biased variance');
    expectClose(await s.varUnbiased.read(), [72.75 / 3, 68.75 / 3], 1e-5, 1e-6, 'unbiased variance');
  });

  it('the case adapter leaves the case inputs unchanged (it updates clones of the running statistics)', async () => {
    const ins: Record<string, Tensor> = {
      x: tensor([1, 2, 3, 6], [2, 1, 1, 2]), gamma: tensor([1]), beta: tensor([0]), running_mean: tensor([0.5]), running_var: tensor([2]),
    };
    const out = getCaseAdapter('batch_norm2d')!(ins, { training: true, momentum: 0.1, eps: 1e-5, num_features: 1 });
    expect(Object.keys(out).sort()).toEqual(['batch_mean', 'batch_var_biased', 'batch_var_unbiased', 'running_mean', 'running_var', 'y']);
    expectClose(await out.running_mean!.read(), [0.9 * 0.5 + 0.1 * 3], 1e-7, 1e-6, 'updated running_mean');
    expect(await ins.running_mean!.item()).toBe(0.5);
    expect(await ins.running_var!.item()).toBe(2);
  });

  describe('argument checks name the op, the argument, and what was expected', () => {
    const x = () => tensor(new Array(8).fill(1), [2, 2, 1, 2]);
    const c2 = () => tensor([1, 1]);
    it.each<[string, () => unknown, RegExp]>([
      ['rank', () => batchNorm2d(tensor([1, 2, 3, 4], [2, 2]), null, null, c2(), c2(), { mode: 'eval' }), /batch_norm2d: x must be NCHW \(rank 4\), got shape \[2, 2\]/],
      ['gamma shape', () => batchNorm2d(x(), tensor([1, 2, 3]), null, c2(), c2(), { mode: 'eval' }), /batch_norm2d: gamma must have shape \[2\].*got \[3\]/],
      ['running_var shape', () => batchNorm2d(x(), null, null, c2(), tensor([1]), { mode: 'train' }), /batch_norm2d: running_var must have shape \[2\]/],
      ['one value per channel', () => batchNorm2d(tensor([1, 2], [1, 2, 1, 1]), null, null, c2(), c2(), { mode: 'train_frozen' }), /more than 1 value per channel when training/],
      ['mode', () => batchNorm2d(x(), null, null, c2(), c2(), { mode: 'training' as BatchNormMode }), /batch_norm2d: mode must be one of train, eval, train_frozen, got "training"/],
      ['eval without running statistics', () => batchNorm2d(x(), null, null, null, null, { mode: 'eval' }), /mode 'eval' needs running_mean and running_var/],
      ['one running statistic', () => batchNorm2d(x(), null, null, c2(), null, { mode: 'train' }), /both be given or both be null/],
      ['aliased running statistics', () => { const r = c2(); return batchNorm2d(x(), null, null, r, r, { mode: 'train' }); }, /must be distinct tensors/],
      ['eps', () => batchNorm2d(x(), null, null, c2(), c2(), { mode: 'eval', eps: -1 }), /batch_norm2d: eps must be a finite number >= 0, got -1/],
    ])('%s', (_, f, msg) => {
      expect(f).toThrow(msg);
    });
  });
});
