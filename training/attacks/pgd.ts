/**
 * L-inf PGD (Madry et al.): x_{k+1} = clip_[0,1](clip_[x-eps, x+eps](x_k + alpha * sign(grad))), from a
 * uniform random start in the eps-box, with only the input gradient computed (weights are not targets).
 * Written with generic ops; the fused pgd_linf_step kernel replaces the update when it lands.
 */
import * as o from '../../engine/ops/index.js';
import { rand, type Generator } from '../../engine/rng.js';
import { scope, keep, track } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';

export interface PgdOptions { eps: number; alpha: number; steps: number; randomStart?: boolean; generator?: Generator }

/** Returns the adversarial batch; `loss(xAdv)` must return a scalar to maximise. */
export function pgdLinf(loss: (xAdv: Tensor) => Tensor, x: Tensor, opts: PgdOptions): Tensor {
  const lo = keep(o.clamp(o.sub(x, opts.eps), 0, 1));
  const hi = keep(o.clamp(o.add(x, opts.eps), 0, 1));
  let adv = keep(opts.randomStart === false ? o.clone(x) : scope(() => o.minimum(o.maximum(o.add(x, rand(x.shape, { device: x.device, low: -opts.eps, high: opts.eps, generator: opts.generator })), lo), hi)));
  for (let k = 0; k < opts.steps; k++) {
    const next = scope(() => {
      const [g] = o.grad(loss, [adv]);
      return o.minimum(o.maximum(o.add(adv, o.mul(o.sign(g!), opts.alpha)), lo), hi);
    });
    adv.dispose();
    adv = keep(next);
  }
  lo.dispose();
  hi.dispose();
  // The result belongs to the caller's scope like any op result.
  track(adv);
  return adv;
}
