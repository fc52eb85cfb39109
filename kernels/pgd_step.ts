/** Wrappers of pgd_linf_step.wgsl (elementwise) and pgd_l2_step.wgsl (one workgroup per example). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const linf = Kernel.fromFile('pgd_linf_step', 'pgd_linf_step.wgsl');
const l2 = Kernel.fromFile('pgd_l2_step', 'pgd_l2_step.wgsl');

export interface PgdStepBuffers { x: GPUBufferBinding; xAdv: GPUBufferBinding; grad: GPUBufferBinding; y: GPUBufferBinding }

/** One value for the whole batch, or a float32 buffer of one value per example. */
export type PerExample = number | GPUBufferBinding;

/** Params, overrides and row-buffer bindings for eps and alpha; a scalar's unused binding gets x (never read). */
function stepValues(b: PgdStepBuffers, eps: PerExample, alpha: PerExample) {
  const perEps = typeof eps !== 'number';
  const perAlpha = typeof alpha !== 'number';
  return {
    params: { eps: perEps ? 0 : eps, alpha: perAlpha ? 0 : alpha },
    overrides: { EPS_PER_EXAMPLE: perEps, ALPHA_PER_EXAMPLE: perAlpha },
    buffers: { x: b.x, x_adv: b.xAdv, grad: b.grad, y: b.y, eps_rows: perEps ? eps : b.x, alpha_rows: perAlpha ? alpha : b.x },
  };
}

/** y = clamp(min(max(x_adv + alpha sign(grad), x - eps), x + eps), 0, 1) over n elements, `features` per example. */
export function runPgdLinfStep(d: Dispatcher, b: PgdStepBuffers, n: number, features: number, eps: PerExample, alpha: PerExample): void {
  if (n === 0) return;
  const v = stepValues(b, eps, alpha);
  d.run(linf, { buffers: v.buffers, params: { n, features, ...v.params }, overrides: v.overrides, workgroups: grid1d(n, 256) });
}

/** The L2 step on `batch` rows of `features` values each. */
export function runPgdL2Step(d: Dispatcher, b: PgdStepBuffers, batch: number, features: number, eps: PerExample, alpha: PerExample, normFloor: number): void {
  if (batch === 0) return;
  const v = stepValues(b, eps, alpha);
  d.run(l2, { buffers: v.buffers, params: { batch, features, norm_floor: normFloor, ...v.params }, overrides: v.overrides, workgroups: grid1d(batch, 1) });
}
