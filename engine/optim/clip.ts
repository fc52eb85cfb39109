/**
 * Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_ (L2): the norm over all gradients
 * together, then every gradient scaled in place by min(1, maxNorm / (norm + 1e-6)). Everything stays on the
 * GPU (kernels/clip_grad_norm.wgsl): the coefficient is computed by a kernel and read by the scaling kernels,
 * so clipping never waits for a readback; read the returned norm only when you want to log it.
 */
import { empty, zeros } from '../create.js';
import type { Tensor } from '../tensor.js';
import { getDefaultDevice } from '../device.js';
import { runSumSquares, runClipCoefficient, runScaleByCoefficient, sumSquaresGroups } from '../../kernels/clip_grad_norm.js';

/**
 * Clips the `.grad` of `params` (those without one are skipped) to a global L2 norm of at most `maxNorm`,
 * in place. Returns the norm before clipping, a scalar tensor (the caller's, like any op result).
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) throw new RangeError(`clipGradNorm: maxNorm must be a number, got ${maxNorm}`);
  return globalNorm('clipGradNorm', params, maxNorm);
}

/** The global L2 norm of the `.grad` of `params` (those without one are skipped), without changing them. */
export function gradNorm(params: readonly Tensor[]): Tensor {
  return globalNorm('gradNorm', params, null);
}

function globalNorm(what: string, params: readonly Tensor[], maxNorm: number | null): Tensor {
  if (!Array.isArray(params)) throw new TypeError(`${what}: params must be an array of tensors`);
  const grads = params.map((p, i) => {
    if (!p || typeof p.assertLive !== 'function') throw new TypeError(`${what}: params[${i}] is not a Tensor`);
    const g = p.grad;
    if (!g) return null;
    g.assertLive(`${what}: the gradient of params[${i}]`);
    if (g.dtype !== 'float32') throw new TypeError(`${what}: the gradient of params[${i}] is ${g.dtype}, expected float32`);
    return g;
  }).filter((g): g is Tensor => g !== null);
  if (!grads.length) return zeros([], { device: params[0]?.device ?? getDefaultDevice() });
  const device = grads[0]!.device;
  if (grads.some((g) => g.device !== device)) throw new Error(`${what}: the gradients are on different devices`);
  const offsets: number[] = [];
  let count = 0;
  for (const g of grads) { offsets.push(count); count += sumSquaresGroups(g.size); }
  const partials = empty(device, [count + 1]);
  const norm = empty(device, []);
  const b = { partials: partials.storage.binding(), norm: norm.storage.binding() };
  grads.forEach((g, i) => runSumSquares(device, g.storage.binding(), b, g.size, offsets[i]!, count));
  runClipCoefficient(device, grads[0]!.storage.binding(), b, count, maxNorm ?? Infinity);
  if (maxNorm !== null) {
    for (const g of grads) {
      runScaleByCoefficient(device, g.storage.binding(), b, g.size, count);
      g.storage.version++;
    }
  }
  // The partials may go back to the pool now: the pool keeps buffers of unsubmitted work until the submit.
  partials.dispose();
  return norm;
}
