/** Wrappers of pgd_linf_step.wgsl (elementwise) and pgd_l2_step.wgsl (one workgroup per example). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const linf = Kernel.fromFile('pgd_linf_step', 'pgd_linf_step.wgsl');
const l2 = Kernel.fromFile('pgd_l2_step', 'pgd_l2_step.wgsl');

export interface PgdStepBuffers { x: GPUBufferBinding; xAdv: GPUBufferBinding; grad: GPUBufferBinding; y: GPUBufferBinding }

/** y = clamp(min(max(x_adv + alpha sign(grad), x - eps), x + eps), 0, 1) over n elements. */
export function runPgdLinfStep(d: Dispatcher, b: PgdStepBuffers, n: number, eps: number, alpha: number): void {
  if (n === 0) return;
  d.run(linf, { buffers: { x: b.x, x_adv: b.xAdv, grad: b.grad, y: b.y }, params: { n, eps, alpha }, workgroups: grid1d(n, 256) });
}

/** The L2 step on `batch` rows of `features` values each. */
export function runPgdL2Step(d: Dispatcher, b: PgdStepBuffers, batch: number, features: number, eps: number, alpha: number, normFloor: number): void {
  if (batch === 0) return;
  d.run(l2, {
    buffers: { x: b.x, x_adv: b.xAdv, grad: b.grad, y: b.y },
    params: { batch, features, eps, alpha, norm_floor: normFloor },
    workgroups: grid1d(batch, 1),
  });
}
