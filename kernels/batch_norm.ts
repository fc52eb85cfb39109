/** Wrappers of the batch-norm kernels: statistics, apply, and the two backward passes. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const stats = Kernel.fromFile('batch_norm_stats', 'batch_norm_stats.wgsl');
const apply = Kernel.fromFile('batch_norm_apply', 'batch_norm_apply.wgsl');
const backwardReduce = Kernel.fromFile('batch_norm_backward_reduce', 'batch_norm_backward_reduce.wgsl');
const backward = Kernel.fromFile('batch_norm_backward', 'batch_norm_backward.wgsl');

/** x is [N, C, H, W] with HW = H*W and M = N*H*W values per channel. */
export interface BnShape { N: number; C: number; HW: number }

/**
 * Batch statistics: mean = [s (C), d (C)] (the mean is s + d), variance [C] biased. With `update`, also the
 * running statistics in place (momentum update, unbiased variance); they must be distinct buffers.
 */
export function runBatchNormStats(dev: Dispatcher, s: BnShape, x: GPUBufferBinding, mean: GPUBufferBinding, variance: GPUBufferBinding,
  runningMean: GPUBufferBinding, runningVar: GPUBufferBinding, update: { momentum: number } | null): void {
  if (s.C === 0) return;
  dev.run(stats, {
    buffers: { x, mean, variance, running_mean: runningMean, running_var: runningVar },
    params: { C: s.C, HW: s.HW, M: s.N * s.HW, momentum: update?.momentum ?? 0 },
    overrides: { UPDATE: update !== null },
    workgroups: [s.C, 1, 1],
  });
}

/** y = (x - mean) rstd gamma + beta; `shifted`: mean is the [s, d] pair of runBatchNormStats. */
export function runBatchNormApply(dev: Dispatcher, s: BnShape, shifted: boolean, eps: number, x: GPUBufferBinding, mean: GPUBufferBinding,
  variance: GPUBufferBinding, gamma: GPUBufferBinding, beta: GPUBufferBinding, y: GPUBufferBinding): void {
  const n = s.N * s.C * s.HW;
  if (n === 0) return;
  dev.run(apply, { buffers: { x, mean, variance, gamma, beta, y }, params: { n, C: s.C, HW: s.HW, eps }, overrides: { SHIFTED: shifted }, workgroups: grid1d(n, 256) });
}

/** sumG = sum g (d beta), sumGxhat = sum g xhat (d gamma), per channel. */
export function runBatchNormBackwardReduce(dev: Dispatcher, s: BnShape, shifted: boolean, eps: number, x: GPUBufferBinding, g: GPUBufferBinding,
  mean: GPUBufferBinding, variance: GPUBufferBinding, sumG: GPUBufferBinding, sumGxhat: GPUBufferBinding): void {
  if (s.C === 0) return;
  dev.run(backwardReduce, {
    buffers: { x, g, mean, variance, sum_g: sumG, sum_gxhat: sumGxhat },
    params: { C: s.C, HW: s.HW, M: s.N * s.HW, eps }, overrides: { SHIFTED: shifted }, workgroups: [s.C, 1, 1],
  });
}

/**
 * dx. `sums` (train: through the batch statistics, with the sums of runBatchNormBackwardReduce) or null
 * (eval: dx = g gamma rstd; x, mean and the sums are not read).
 */
export function runBatchNormBackward(dev: Dispatcher, s: BnShape, eps: number, g: GPUBufferBinding, variance: GPUBufferBinding, gamma: GPUBufferBinding,
  dx: GPUBufferBinding, train: { x: GPUBufferBinding; mean: GPUBufferBinding; sumG: GPUBufferBinding; sumGxhat: GPUBufferBinding } | null): void {
  const n = s.N * s.C * s.HW;
  if (n === 0) return;
  // Unread bindings still need a buffer; read-only bindings may alias.
  const t = train ?? { x: g, mean: variance, sumG: gamma, sumGxhat: gamma };
  dev.run(backward, {
    buffers: { x: t.x, g, mean: t.mean, variance, gamma, sum_g: t.sumG, sum_gxhat: t.sumGxhat, dx },
    params: { n, C: s.C, HW: s.HW, M: s.N * s.HW, eps }, overrides: { TRAIN: train !== null }, workgroups: grid1d(n, 256),
  });
}
