/** Wrappers of activation.wgsl (forward) and activation_backward.wgsl: op numbering and dispatch. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

export const ACTIVATION_OPS = {
  relu: 0, softplus: 1, psoftplus: 2, silu: 3, gelu: 4, gelu_tanh: 5, elu: 6, smoothrelu: 7, mish: 8, tanh: 9,
  sigmoid: 10, relu_smoothgrad: 11,
} as const;
export type ActivationKernelOp = keyof typeof ACTIVATION_OPS;

const forward = Kernel.fromFile('activation', 'activation.wgsl');
const backward = Kernel.fromFile('activation_backward', 'activation_backward.wgsl');

/**
 * y = f(x) over n elements. `p` holds the learnable scalar (psoftplus, smoothrelu; pass x otherwise);
 * a, b are the op's scalars (softplus beta/threshold, elu alpha).
 */
export function runActivation(d: Dispatcher, op: ActivationKernelOp, x: GPUBufferBinding, p: GPUBufferBinding, y: GPUBufferBinding, n: number, a = 0, b = 0): void {
  if (n === 0) return;
  d.run(forward, { buffers: { x, p, y }, params: { n, a, b }, overrides: { OP: ACTIVATION_OPS[op] }, workgroups: grid1d(n, 256) });
}

/**
 * gx = g f'(x) and/or gp = g df/dp (elementwise; the caller sums gp). A gradient that is not wanted is not
 * written, and its binding may be any writable buffer.
 */
export function runActivationBackward(d: Dispatcher, op: ActivationKernelOp,
  bufs: { x: GPUBufferBinding; g: GPUBufferBinding; p: GPUBufferBinding; gx: GPUBufferBinding; gp: GPUBufferBinding },
  n: number, want: { x: boolean; p: boolean }, a = 0, b = 0): void {
  if (n === 0 || (!want.x && !want.p)) return;
  d.run(backward, {
    buffers: bufs, params: { n, a, b },
    overrides: { OP: ACTIVATION_OPS[op], X_GRAD: want.x, P_GRAD: want.p },
    workgroups: grid1d(n, 256),
  });
}
