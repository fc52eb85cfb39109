/**
 * batch_norm2d over NCHW activations, PyTorch's F.batch_norm with three explicit modes:
 *   'train'        batch statistics (biased variance), and the running statistics updated in place with
 *                  momentum and the unbiased variance;
 *   'train_frozen' batch statistics, running statistics untouched (attacks in train mode, METHODS §10.1);
 *   'eval'         running statistics: a fixed per-channel affine map.
 * The batch statistics are two-pass and shifted (kernels/batch_norm_stats.wgsl): one-pass float32
 * E[x^2] - E[x]^2 is wrong on channels whose variance is small against their mean. The forward hands its
 * statistics to the backward, which differentiates through them in train modes. The running statistics are
 * op inputs (so liveness, dtype and device are checked) that never get gradients, and are saved for backward
 * only in eval mode: a train-mode step with two forwards (TRADES' clean and adversarial passes) updates them
 * twice before its backward.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty, full } from '../create.js';
import { noGrad } from '../tape.js';
import { scope } from '../scope.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { fmt } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runBatchNormApply, runBatchNormBackward, runBatchNormBackwardReduce, runBatchNormStats, type BnShape } from '../../kernels/batch_norm.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

export type BatchNormMode = 'train' | 'eval' | 'train_frozen';
export interface BatchNorm2dOptions { mode: BatchNormMode; momentum?: number; eps?: number }
export interface BatchNormAttrs { mode: BatchNormMode; momentum: number; eps: number }

const MODES: readonly BatchNormMode[] = ['train', 'eval', 'train_frozen'];

const bnShape = (shape: readonly number[]): BnShape => ({ N: shape[0]!, C: shape[1]!, HW: shape[2]! * shape[3]! });

function checkInput(x: Tensor, op: string, training: boolean): void {
  x.assertLive(op);
  if (x.rank !== 4) throw new RangeError(`${op}: x must be NCHW (rank 4), got shape ${fmt(x.shape)}`);
  if (x.shape[1]! > 65535) throw new RangeError(`${op}: at most 65535 channels (one workgroup each), got ${x.shape[1]}`);
  const M = x.shape[0]! * x.shape[2]! * x.shape[3]!;
  // PyTorch refuses this too: the unbiased variance of one value is undefined.
  if (training && M <= 1) throw new RangeError(`${op}: expected more than 1 value per channel when training, got input shape ${fmt(x.shape)}`);
}

export const batchNorm2dOp = defineOp<BatchNormAttrs>({
  name: 'batch_norm2d',
  nondiff: [3, 4],
  forward: ([x, gamma, beta, rm, rv], a) => {
    checkInput(x!, 'batch_norm2d', a.mode !== 'eval');
    const dev = x!.device;
    const s = bnShape(x!.shape);
    const y = empty(dev, x!.shape);
    if (a.mode === 'eval') {
      runBatchNormApply(dev, s, false, a.eps, x!.storage.binding(), rm!.storage.binding(), rv!.storage.binding(), gamma!.storage.binding(), beta!.storage.binding(), y.storage.binding());
      return { out: y, saved: { mean: rm!.alias(), variance: rv!.alias() } };
    }
    const mean = empty(dev, [2 * s.C]);
    const variance = empty(dev, [s.C]);
    const update = a.mode === 'train';
    runBatchNormStats(dev, s, x!.storage.binding(), mean.storage.binding(), variance.storage.binding(), rm!.storage.binding(), rv!.storage.binding(), update ? { momentum: a.momentum } : null);
    if (update) {
      rm!.storage.version++;
      rv!.storage.version++;
    }
    runBatchNormApply(dev, s, true, a.eps, x!.storage.binding(), mean.storage.binding(), variance.storage.binding(), gamma!.storage.binding(), beta!.storage.binding(), y.storage.binding());
    return { out: y, saved: { mean, variance } };
  },
  inputs: ['x', 'gamma', 'beta', 'running_mean', 'running_var'],
  // The statistics used: train, the [s, d] mean pair and the biased variance; eval, the running ones.
  save: ['x', 'gamma', 'mean', 'variance'],
  backward: (g, ctx) => {
    const { x, gamma, mean, variance } = ctx.saved as { x: Tensor; gamma: Tensor; mean: Tensor; variance: Tensor };
    const train = ctx.attrs.mode !== 'eval';
    const eps = ctx.attrs.eps;
    const s = bnShape(x.shape);
    const dev = x.device;
    const [needX, needGamma, needBeta] = ctx.needs;
    let sumG: Tensor | null = null;
    let sumGxhat: Tensor | null = null;
    if (needGamma || needBeta || (train && needX)) {
      sumG = empty(dev, [s.C]);
      sumGxhat = empty(dev, [s.C]);
      runBatchNormBackwardReduce(dev, s, train, eps, x.storage.binding(), g.storage.binding(), mean.storage.binding(), variance.storage.binding(), sumG.storage.binding(), sumGxhat.storage.binding());
    }
    let dx: Tensor | null = null;
    if (needX) {
      dx = empty(dev, x.shape);
      runBatchNormBackward(dev, s, eps, g.storage.binding(), variance.storage.binding(), gamma.storage.binding(), dx.storage.binding(),
        train ? { x: x.storage.binding(), mean: mean.storage.binding(), sumG: sumG!.storage.binding(), sumGxhat: sumGxhat!.storage.binding() } : null);
    }
    return [dx, needGamma ? sumGxhat : null, needBeta ? sumG : null, null, null];
  },
  reference: {
    forward: ([x, gamma, beta, rm, rv], a) => {
      const st = refStats(x!, a, rm!, rv!);
      const y = ref(x!.shape);
      forEachChannel(x!.shape, (c, idx) => {
        for (const i of idx) y.data[i] = (x!.data[i]! - st.mean[c]!) * st.rstd[c]! * gamma!.data[c]! + beta!.data[c]!;
      });
      return y;
    },
    backward: ([x, gamma, , rm, rv], a, _, g) => {
      const st = refStats(x!, a, rm!, rv!);
      const C = x!.shape[1]!;
      const dx = ref(x!.shape);
      const dgamma = ref([C]);
      const dbeta = ref([C]);
      forEachChannel(x!.shape, (c, idx) => {
        const M = idx.length;
        const xhat = (i: number) => (x!.data[i]! - st.mean[c]!) * st.rstd[c]!;
        let sg = 0;
        let sgx = 0;
        for (const i of idx) { sg += g.data[i]!; sgx += g.data[i]! * xhat(i); }
        dgamma.data[c] = sgx;
        dbeta.data[c] = sg;
        const k = gamma!.data[c]! * st.rstd[c]!;
        for (const i of idx) dx.data[i] = a.mode === 'eval' ? g.data[i]! * k : (k / M) * (M * g.data[i]! - sg - xhat(i) * sgx);
      });
      return [dx, dgamma, dbeta, null, null];
    },
  },
  audit: auditCases(),
});

/** Visits each channel c with the flat indices of its N*H*W values. */
function forEachChannel(shape: readonly number[], f: (c: number, idx: number[]) => void): void {
  const { N, C, HW } = bnShape(shape);
  for (let c = 0; c < C; c++) {
    const idx: number[] = [];
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) idx.push((n * C + c) * HW + i);
    f(c, idx);
  }
}

/** Float64 statistics: the batch's (two-pass, biased variance) or the running ones, and 1/sqrt(var + eps). */
function refStats(x: RefTensor, a: BatchNormAttrs, rm: RefTensor, rv: RefTensor): { mean: number[]; varBiased: number[]; rstd: number[] } {
  const C = x.shape[1]!;
  const mean = new Array<number>(C).fill(0);
  const varBiased = new Array<number>(C).fill(0);
  forEachChannel(x.shape, (c, idx) => {
    if (a.mode === 'eval') { mean[c] = rm.data[c]!; varBiased[c] = rv.data[c]!; return; }
    const m = idx.reduce((p, i) => p + x.data[i]!, 0) / idx.length;
    mean[c] = m;
    varBiased[c] = idx.reduce((p, i) => p + (x.data[i]! - m) ** 2, 0) / idx.length;
  });
  return { mean, varBiased, rstd: varBiased.map((v) => 1 / Math.sqrt(v + a.eps)) };
}

/** Reproducible noise in [-1, 1] for explicit audit values. */
function noise(i: number): number {
  const u = Math.sin(i * 12.9898 + 78.233) * 43758.5453;
  return 2 * (u - Math.floor(u)) - 1;
}

function auditCases(): AuditCase<BatchNormAttrs>[] {
  const gen = ['normal', 'normal', 'normal', 'normal', 'positive'] as const;
  const mk = (name: string, x: number[], mode: BatchNormMode, extra: Partial<AuditCase<BatchNormAttrs>> = {}): AuditCase<BatchNormAttrs> => {
    const C = x[1]!;
    return { name: `batch_norm2d ${mode} ${fmt(x)}${name ? ` ${name}` : ''}`, shapes: [x, [C], [C], [C], [C]], attrs: { mode, momentum: 0.1, eps: 1e-5 }, gen: [...gen], ...extra };
  };
  // Channel 0 sits at 1000 with spread ~2: one-pass float32 E[x^2] - E[x]^2 is off there by far more than
  // the tolerance. The spread stays large enough for the audit's finite-difference step (1e-6 * |x| = 1e-3).
  const shape = [2, 3, 5, 3];
  const offsetX = Array.from({ length: 90 }, (_, i) => {
    const c = Math.floor(i / 15) % 3;
    return c === 0 ? 1000 + 4 * noise(i) : c === 1 ? -3 + noise(i) : 250 + 0.5 * noise(i);
  });
  const offsetRunning = { values: [offsetX, null, null, [1000, -3, 250], [5, 0.3, 0.08]] };
  return [
    ...(['train', 'train_frozen', 'eval'] as const).map((m) => mk('', [2, 3, 5, 5], m)),
    mk('', [3, 5, 4, 3], 'train'),
    mk('', [3, 5, 4, 3], 'eval'),
    mk('batch 1', [1, 3, 3, 5], 'train'),
    mk('batch 1', [1, 3, 3, 5], 'eval'),
    mk('odd spatial', [2, 5, 7, 3], 'train_frozen'),
    mk('1x1 spatial', [4, 3, 1, 1], 'train'),
    mk('M > workgroup', [3, 2, 11, 13], 'train'),
    mk('x1000', [2, 3, 4, 4], 'train', { scale: 1e3 }),
    mk('x1e-3', [2, 3, 4, 4], 'train', { scale: 1e-3 }),
    mk('small variance, large mean', shape, 'train', offsetRunning),
    mk('small variance, large mean', shape, 'eval', offsetRunning),
  ];
}

/**
 * Batch normalisation of x [N, C, H, W] per channel (PyTorch's F.batch_norm; see the file header for the
 * modes). gamma/beta [C] may be null (affine=false). The running statistics [C] are read in 'eval' and
 * updated in place in 'train' (their storage version is bumped); in train modes they may both be null
 * (track_running_stats=False: nothing is updated). Differentiable in x, gamma and beta.
 */
export function batchNorm2d(x: Tensor, gamma: Tensor | null, beta: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null, opts: BatchNorm2dOptions): Tensor {
  const op = 'batch_norm2d';
  const { mode, momentum = 0.1, eps = 1e-5 } = opts;
  if (!MODES.includes(mode)) throw new RangeError(`${op}: mode must be one of ${MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  if (!Number.isFinite(momentum)) throw new RangeError(`${op}: momentum must be a finite number, got ${momentum}`);
  if (!Number.isFinite(eps) || eps < 0) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  checkInput(x, op, mode !== 'eval');
  const C = x.shape[1]!;
  const named: [string, Tensor | null][] = [['gamma', gamma], ['beta', beta], ['running_mean', runningMean], ['running_var', runningVar]];
  for (const [name, t] of named) {
    if (t && (t.rank !== 1 || t.shape[0] !== C)) throw new RangeError(`${op}: ${name} must have shape [${C}] (the channels of x ${fmt(x.shape)}), got ${fmt(t.shape)}`);
  }
  if (!runningMean !== !runningVar) throw new TypeError(`${op}: running_mean and running_var must both be given or both be null`);
  if (mode === 'eval' && !runningMean) throw new TypeError(`${op}: mode 'eval' needs running_mean and running_var, got null`);
  if (runningMean && runningVar && runningMean.storage === runningVar.storage) throw new RangeError(`${op}: running_mean and running_var must be distinct tensors, got views of one storage (tensor #${runningMean.id} and #${runningVar.id})`);
  return scope(() => {
    const dev = x.device;
    const g = gamma ?? full([C], 1, { device: dev });
    const b = beta ?? full([C], 0, { device: dev });
    // Without running statistics nothing is updated; the kernel still binds two (unwritten) buffers.
    const rm = runningMean ?? empty(dev, [C]);
    const rv = runningVar ?? empty(dev, [C]);
    const m = mode === 'train' && !runningMean ? 'train_frozen' : mode;
    return batchNorm2dOp([x, g, b, rm, rv], { mode: m, momentum, eps });
  });
}

/** The batch statistics batch_norm2d uses in train modes, per channel [C] (no gradient). */
export function batchNorm2dStats(x: Tensor): { mean: Tensor; varBiased: Tensor; varUnbiased: Tensor } {
  checkInput(x, 'batchNorm2dStats', true);
  const s = bnShape(x.shape);
  const M = s.N * s.HW;
  return noGrad(() => scope(() => {
    const dev = x.device;
    const pair = empty(dev, [2, s.C]);
    const varBiased = empty(dev, [s.C]);
    runBatchNormStats(dev, s, x.storage.binding(), pair.storage.binding(), varBiased.storage.binding(), empty(dev, [s.C]).storage.binding(), empty(dev, [s.C]).storage.binding(), null);
    const mean = o.reshape(o.add(o.slice(pair, 0, 0, 1), o.slice(pair, 0, 1, 2)), [s.C]);
    return { mean, varBiased, varUnbiased: o.scaleShift(varBiased, M / (M - 1), 0) };
  }));
}

// Case fields (REFERENCE_CASES.md): params training, momentum, eps, num_features; the running statistics are
// cloned so that the case's inputs stay as given (the runner calls an adapter twice: values, then gradients).
registerCaseAdapter('batch_norm2d', (x, p) => {
  const training = param.bool(p, 'training');
  const input = x.x!;
  if (p.num_features !== undefined && param.num(p, 'num_features') !== input.shape[1]) {
    throw new RangeError(`batch_norm2d: params.num_features is ${String(p.num_features)} but x has shape ${fmt(input.shape)}`);
  }
  // PyTorch's momentum=None (a cumulative average over num_batches_tracked) has no counterpart here.
  if (p.momentum === null) throw new TypeError('batch_norm2d: params.momentum is null (a cumulative moving average), which is not supported; give a number');
  const rm = o.clone(x.running_mean!);
  const rv = o.clone(x.running_var!);
  const y = batchNorm2d(input, x.gamma ?? null, x.beta ?? null, rm, rv, {
    mode: training ? 'train' : 'eval', momentum: param.optNum(p, 'momentum') ?? 0.1, eps: param.optNum(p, 'eps') ?? 1e-5,
  });
  const out: Record<string, Tensor> = { y, running_mean: rm, running_var: rv };
  if (training) {
    const st = batchNorm2dStats(input);
    Object.assign(out, { batch_mean: st.mean, batch_var_biased: st.varBiased, batch_var_unbiased: st.varUnbiased });
  }
  return out;
}, { inputs: ['x', 'running_mean', 'running_var'] });
