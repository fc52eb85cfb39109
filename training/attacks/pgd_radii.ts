/**
 * PGD with a radius of its own for every example (a float32 [N] tensor on the GPU): the fused steps take
 * per-example eps and alpha, so one run tests N different radii at once. greedy-W's bisection runs on it.
 * The worst case over the iterates is kept as in pgd.ts (result.ts): any misclassified iterate, else the
 * highest-loss one.
 */
import * as o from '../../engine/ops/index.js';
import { rand, randn, type Generator } from '../../engine/rng.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { attackLoss, lossAndGrad, lossAt, misclassified, type AttackLoss } from './objective.js';
import { WorstCase, type AttackResult } from './result.js';
import { normalizePerExample, perExample, type Norm } from './threat.js';

export interface PgdRadiiOptions {
  norm: Norm;
  steps: number;
  /** Step size as a multiple of each example's radius per step; default 2.5 / steps (MadryLab's rule). */
  stepRatio?: number;
  /** 'uniform': a random start in each example's ball (as threat.ts's, scaled per example); 'none': x. */
  start: 'uniform' | 'none';
  loss: AttackLoss;
  /** Required for a 'uniform' start. */
  generator?: Generator;
}

/** x + a random point of radius r_i's ball (L-inf: U(-r_i, r_i) per pixel; L2: r_i n/||n||, n ~ N(0, I)), in [0, 1]. */
function startAt(x: Tensor, radii: Tensor, norm: Norm, generator: Generator): Tensor {
  return noGrad(() => scope(() => {
    const opts = { device: x.device, generator };
    const u = norm === 'linf' ? rand(x.shape, { ...opts, low: -1, high: 1 }) : normalizePerExample(randn(x.shape, opts), 'l2');
    return o.clamp(o.add(x, o.mul(u, perExample(radii, x))), 0, 1);
  }));
}

/**
 * Untargeted PGD of `steps` steps on (x, y) where example i has radius radii[i] (a radius 0 holds it at x);
 * the caller runs it in an attack BN mode. Nothing is read back.
 */
export function pgdAtRadii(model: Module, x: Tensor, y: Tensor, radii: Tensor, opts: PgdRadiiOptions): AttackResult {
  const lossOf = (logits: Tensor) => attackLoss(opts.loss, logits, y);
  const alpha = keep(noGrad(() => o.mul(radii, opts.stepRatio ?? 2.5 / opts.steps)));
  if (opts.start === 'uniform' && !opts.generator) throw new TypeError("pgdAtRadii: a 'uniform' start needs a generator");
  let cur = keep(opts.start === 'uniform' ? startAt(x, radii, opts.norm, opts.generator!) : o.clone(x));
  let worst: WorstCase | null = null;
  try {
    for (let k = 0; k < opts.steps; k++) {
      const next = scope(() => {
        const { loss, logits, grad } = lossAndGrad(model, cur, lossOf);
        const wrong = misclassified(logits, y);
        if (!worst) worst = WorstCase.start(cur, loss, wrong);
        else worst.update(cur, loss, wrong);
        return opts.norm === 'linf' ? o.pgdLinfStep(x, cur, grad, { eps: radii, alpha }) : o.pgdL2Step(x, cur, grad, { eps: radii, alpha });
      });
      cur.dispose();
      cur = keep(next);
    }
    scope(() => {
      const { loss, logits } = lossAt(model, cur, lossOf);
      if (!worst) worst = WorstCase.start(cur, loss, misclassified(logits, y));
      else worst.update(cur, loss, misclassified(logits, y));
    });
    return (worst as WorstCase | null)!.result();
  } catch (e) {
    (worst as WorstCase | null)?.dispose();
    throw e;
  } finally {
    cur.dispose();
    alpha.dispose();
  }
}
