/** Wrapper of adam.wgsl: one fused, in-place Adam or AdamW step on one parameter tensor. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const adam = Kernel.fromFile('adam', 'adam.wgsl');

export interface AdamStepArgs {
  n: number; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; amsgrad: boolean;
  /** AdamW: weight decay applied to the parameter (p *= 1 - lr wd) instead of added to the gradient. */
  decoupled: boolean;
  /** This parameter's step count t, counting this step (1 on the first). */
  step: number;
  /** The state buffers hold nothing yet (they are read as zeros). */
  first: boolean;
}

export interface AdamBuffers {
  param: GPUBufferBinding; grad: GPUBufferBinding; expAvg: GPUBufferBinding; expAvgSq: GPUBufferBinding;
  /** Any other buffer when amsgrad is off (bound but not touched). */
  maxExpAvgSq: GPUBufferBinding;
  /** The step happens only where gate[0] != 0 (null: always). */
  gate: GPUBufferBinding | null;
}

export function runAdamStep(d: Dispatcher, b: AdamBuffers, a: AdamStepArgs): void {
  if (a.n === 0) return;
  // Scalars in double, then rounded once to float32, as PyTorch computes them in Python.
  const bc1 = 1 - a.beta1 ** a.step;
  const bc2 = 1 - a.beta2 ** a.step;
  d.run(adam, {
    buffers: { param: b.param, grad: b.grad, exp_avg: b.expAvg, exp_avg_sq: b.expAvgSq, max_exp_avg_sq: b.maxExpAvgSq, gate: b.gate ?? b.grad },
    params: {
      n: a.n, first: a.first ? 1 : 0, weight_decay: a.weightDecay, decay: 1 - a.lr * a.weightDecay,
      beta1: a.beta1, one_minus_beta1: 1 - a.beta1, beta2: a.beta2, one_minus_beta2: 1 - a.beta2,
      step_size: a.lr / bc1, bc2_sqrt: Math.sqrt(bc2), eps: a.eps,
    },
    overrides: { AMSGRAD: a.amsgrad, DECOUPLED: a.decoupled, GATED: b.gate !== null },
    workgroups: grid1d(a.n, 256),
  });
}
