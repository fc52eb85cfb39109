/** Wrapper of clip_grad_norm.wgsl: the three phases of global gradient-norm clipping. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const clip = Kernel.fromFile('clip_grad_norm', 'clip_grad_norm.wgsl');
const WG = 256;
/** Phase-0 workgroups per tensor: enough to fill a GPU, few enough that phase 1 (one workgroup) stays cheap. */
const MAX_GROUPS = 256;

/** Phase-0 workgroups for a tensor of n elements (each writes one partial sum). */
export function sumSquaresGroups(n: number): number {
  return Math.min(MAX_GROUPS, Math.max(1, Math.ceil(n / (WG * 16))));
}

export interface ClipBuffers { partials: GPUBufferBinding; norm: GPUBufferBinding }

/** Phase 0: partials[offset .. offset + sumSquaresGroups(n)) = partial sums of grad^2. */
export function runSumSquares(d: Dispatcher, grad: GPUBufferBinding, b: ClipBuffers, n: number, offset: number, count: number): void {
  const groups = sumSquaresGroups(n);
  d.run(clip, { buffers: { grad, ...b }, params: { n, offset, groups, count, max_norm: 0 }, overrides: { PHASE: 0 }, workgroups: [groups, 1, 1] });
}

/** Phase 1: norm = sqrt(sum of the count partials); the clip coefficient goes to partials[count]. */
export function runClipCoefficient(d: Dispatcher, anyGrad: GPUBufferBinding, b: ClipBuffers, count: number, maxNorm: number): void {
  d.run(clip, { buffers: { grad: anyGrad, ...b }, params: { n: 0, offset: 0, groups: 1, count, max_norm: maxNorm }, overrides: { PHASE: 1 }, workgroups: [1, 1, 1] });
}

/** Phase 2: grad *= partials[count]. */
export function runScaleByCoefficient(d: Dispatcher, grad: GPUBufferBinding, b: ClipBuffers, n: number, count: number): void {
  if (n === 0) return;
  d.run(clip, { buffers: { grad, ...b }, params: { n, offset: 0, groups: 1, count, max_norm: 0 }, overrides: { PHASE: 2 }, workgroups: grid1d(n, WG) });
}
