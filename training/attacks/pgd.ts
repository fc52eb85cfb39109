/**
 * PGD (Madry et al.): projected gradient ascent with the fused pgd_linf_step / pgd_l2_step kernels, from a
 * random start. Model attacks run in an attack BN mode (never updating running statistics) and compute
 * only input gradients (weights are not targets, so no weight-gradient GEMMs run); nothing is read back.
 */
import * as o from '../../engine/ops/index.js';
import { randn, rand, type Generator } from '../../engine/rng.js';
import { keep, scope, track } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';

export interface AttackConfig {
  eps: number;
  alpha: number;
  steps: number;
  norm?: 'linf' | 'l2';
  /** 'uniform' in the eps-ball (Madry; default for PGD), 'normal' x + 0.001 N(0, I) (TRADES; default for it), 'none'. */
  start?: 'uniform' | 'normal' | 'none';
  bnMode?: AttackBnMode;
  /** Every random draw of the attack (its start point) comes from here: library code never uses the default generator. */
  generator: Generator;
}

function startPoint(x: Tensor, cfg: AttackConfig, fallback: 'uniform' | 'normal'): Tensor {
  const kind = cfg.start ?? fallback;
  if (kind === 'none') return o.clone(x);
  if (kind === 'normal') return o.add(x, o.mul(randn(x.shape, { device: x.device, generator: cfg.generator }), 0.001));
  if ((cfg.norm ?? 'linf') === 'l2') {
    // MadryLab's L2 start: a random direction scaled to the sphere of radius eps, per example.
    const n = randn(x.shape, { device: x.device, generator: cfg.generator });
    const axes = [...x.shape.keys()].slice(1);
    const norm = o.sqrt(o.sum(o.square(n), axes, true));
    return o.clamp(o.add(x, o.mul(o.div(n, o.maximum(norm, 1e-12)), cfg.eps)), 0, 1);
  }
  return o.clamp(o.add(x, o.mul(rand(x.shape, { device: x.device, low: -1, high: 1, generator: cfg.generator }), cfg.eps)), 0, 1);
}

/** Projected gradient ascent of `loss(xAdv)` from a start point; returns the final iterate. */
export function projectedAscent(loss: (xAdv: Tensor) => Tensor, x: Tensor, cfg: AttackConfig, fallbackStart: 'uniform' | 'normal'): Tensor {
  let adv = keep(scope(() => startPoint(x, cfg, fallbackStart)));
  const step = cfg.norm === 'l2'
    ? (a: Tensor, g: Tensor) => o.pgdL2Step(x, a, g, { eps: cfg.eps, alpha: cfg.alpha })
    : (a: Tensor, g: Tensor) => o.pgdLinfStep(x, a, g, { eps: cfg.eps, alpha: cfg.alpha });
  for (let k = 0; k < cfg.steps; k++) {
    const next = scope(() => {
      const [g] = o.grad(loss, [adv]);
      return step(adv, g!);
    });
    adv.dispose();
    adv = keep(next);
  }
  track(adv);
  return adv;
}

/** PGD on the summed cross-entropy with the true labels (every example gets its own unscaled gradient). */
export function pgdAttack(model: Module, x: Tensor, labels: Tensor, cfg: AttackConfig): Tensor {
  return withAttackMode(model, cfg.bnMode ?? 'eval', () =>
    projectedAscent((z) => o.crossEntropy(model.forward(z), labels, { reduction: 'sum' }), x, cfg, 'uniform'));
}

/** L-inf PGD of an arbitrary scalar loss (the model-free form the MLP demo uses). */
export function pgdLinf(loss: (xAdv: Tensor) => Tensor, x: Tensor, opts: { eps: number; alpha: number; steps: number; randomStart?: boolean; generator: Generator }): Tensor {
  return projectedAscent(loss, x, { ...opts, start: opts.randomStart === false ? 'none' : 'uniform' }, 'uniform');
}
