/**
 * L-inf PGD (Madry et al.): x_{k+1} = clip_[0,1](clip_[x-eps, x+eps](x_k + alpha * sign(grad))) with the
 * fused pgd_linf_step kernel, from a uniform random start in the eps-box, computing only the input
 * gradient (weights are not targets, so no weight-gradient GEMMs run).
 */
import * as o from '../../engine/ops/index.js';
import { rand, type Generator } from '../../engine/rng.js';
import { scope, keep, track } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';

export interface PgdOptions { eps: number; alpha: number; steps: number; randomStart?: boolean; generator?: Generator }

/** Returns the adversarial batch; `loss(xAdv)` must return a scalar to maximise. */
export function pgdLinf(loss: (xAdv: Tensor) => Tensor, x: Tensor, opts: PgdOptions): Tensor {
  const step = { eps: opts.eps, alpha: opts.alpha };
  // Uniform in the eps-box around x, clipped to [0, 1] (eps * U(-1,1) stays inside the box).
  let adv = keep(opts.randomStart === false ? o.clone(x) : scope(() => {
    const u = rand(x.shape, { device: x.device, low: -1, high: 1, generator: opts.generator });
    return o.clamp(o.add(x, o.mul(u, opts.eps)), 0, 1);
  }));
  for (let k = 0; k < opts.steps; k++) {
    const next = scope(() => {
      const [g] = o.grad(loss, [adv]);
      return o.pgdLinfStep(x, adv, g!, step);
    });
    adv.dispose();
    adv = keep(next);
  }
  // The result belongs to the caller's scope like any op result.
  track(adv);
  return adv;
}
