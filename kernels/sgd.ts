/** Wrapper of sgd.wgsl: one fused, in-place SGD step on one parameter tensor. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const sgd = Kernel.fromFile('sgd', 'sgd.wgsl');

export interface SgdStepArgs {
  n: number; lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean;
  /** The momentum buffer holds nothing yet: it starts as this step's (decayed) gradient. */
  first: boolean;
}

/** `buf` is the momentum buffer (any other buffer when momentum is 0: it is bound but not touched). */
/** `gate`: the step happens only where gate[0] != 0 (null: always). */
export function runSgdStep(d: Dispatcher, b: { param: GPUBufferBinding; grad: GPUBufferBinding; buf: GPUBufferBinding; gate: GPUBufferBinding | null }, a: SgdStepArgs): void {
  if (a.n === 0) return;
  d.run(sgd, {
    buffers: { param: b.param, grad: b.grad, buf: b.buf, gate: b.gate ?? b.grad },
    // 1 - dampening in double then rounded once, as PyTorch's `add_(d_p, alpha=1 - dampening)`.
    params: { n: a.n, first: a.first ? 1 : 0, lr: a.lr, momentum: a.momentum, one_minus_dampening: 1 - a.dampening, weight_decay: a.weightDecay },
    overrides: { MOMENTUM: a.momentum !== 0, NESTEROV: a.nesterov, GATED: b.gate !== null },
    workgroups: grid1d(a.n, 256),
  });
}
