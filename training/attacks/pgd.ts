/**
 * PGD (Madry et al.) and FGSM, L-inf and L2, on the fused pgd_linf_step / pgd_l2_step kernels (METHODS §1.2).
 * Two forms:
 * - training (`projectedAscent`, `pgdAttack`): the last iterate of K steps, what PGD-AT and TRADES train on;
 * - evaluation (`pgd`, `fgsm`): any loss of objective.ts, targeted or not, restarts, and the per-example worst
 *   case over every iterate and restart (result.ts) kept on the GPU.
 * Model attacks run in an attack BN mode (never updating running statistics), compute only input gradients,
 * and read nothing back.
 */
import * as o from '../../engine/ops/index.js';
import type { Generator } from '../../engine/rng.js';
import { keep, scope, track } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import { attackLoss, checkLoss, lossAndGrad, lossAt, misclassified, type AttackLoss } from './objective.js';
import { WorstCase, type AttackResult } from './result.js';
import { checkThreat, startPoint, type Norm, type StartKind, type ThreatModel } from './threat.js';

export interface AttackConfig {
  eps: number;
  alpha: number;
  steps: number;
  norm?: Norm;
  /** 'uniform' in the eps-ball (Madry; default for PGD), 'normal' x + 0.001 N(0, I) (TRADES; default for it), 'none'. */
  start?: StartKind;
  bnMode?: AttackBnMode;
  /** Every random draw of the attack (its start point) comes from here: library code never uses the default generator. */
  generator: Generator;
}

function checkSteps(what: string, steps: unknown, name = 'steps', min = 1): number {
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < min) throw new RangeError(`${what}: ${name} must be an integer >= ${min}, got ${String(steps)}`);
  return steps;
}

function stepFn(x: Tensor, norm: Norm, eps: number, alpha: number): (a: Tensor, g: Tensor) => Tensor {
  return norm === 'l2' ? (a, g) => o.pgdL2Step(x, a, g, { eps, alpha }) : (a, g) => o.pgdLinfStep(x, a, g, { eps, alpha });
}

/** Projected gradient ascent of `loss(xAdv)` (a scalar) from a start point; returns the final iterate. */
export function projectedAscent(loss: (xAdv: Tensor) => Tensor, x: Tensor, cfg: AttackConfig, fallbackStart: StartKind): Tensor {
  const t = checkThreat('attack', cfg);
  checkSteps('attack', cfg.steps, 'steps', 0);
  let adv = keep(startPoint(x, t, cfg.start ?? fallbackStart, cfg.generator));
  const step = stepFn(x, t.norm, t.eps, cfg.alpha);
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

/** Training PGD: the last iterate on the summed cross-entropy with the true labels. */
export function pgdAttack(model: Module, x: Tensor, labels: Tensor, cfg: AttackConfig): Tensor {
  return withAttackMode(model, cfg.bnMode ?? 'eval', () =>
    projectedAscent((z) => o.crossEntropy(model.forward(z), labels, { reduction: 'sum' }), x, cfg, 'uniform'));
}

/** L-inf PGD of an arbitrary scalar loss (the model-free form the MLP demo uses). */
export function pgdLinf(loss: (xAdv: Tensor) => Tensor, x: Tensor, opts: { eps: number; alpha: number; steps: number; randomStart?: boolean; generator: Generator }): Tensor {
  return projectedAscent(loss, x, { ...opts, start: opts.randomStart === false ? 'none' : 'uniform' }, 'uniform');
}

export interface PgdOptions extends ThreatModel {
  steps: number;
  /** Step size; default 2.5 eps / steps (MadryLab's evaluation rule). */
  alpha?: number;
  /** Independent runs from fresh random starts; the worst case per example over all of them is kept. Default 1. */
  restarts?: number;
  /** Default 'uniform' (random in the ball); 'none' starts at x (FGSM). */
  start?: StartKind;
  /** Default 'ce'. Targeted losses need `targets`. */
  loss?: AttackLoss;
  targets?: Tensor;
  bnMode?: AttackBnMode;
  generator: Generator;
}

/** Checks PGD options where they enter; returns them with the defaults filled in. */
export function pgdSettings(opts: PgdOptions): Required<Omit<PgdOptions, 'targets'>> & Pick<PgdOptions, 'targets'> {
  const t = checkThreat('pgd', opts);
  const steps = checkSteps('pgd', opts.steps);
  const restarts = checkSteps('pgd', opts.restarts ?? 1, 'restarts');
  const alpha = opts.alpha ?? (2.5 * t.eps) / steps;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) throw new RangeError(`pgd: alpha must be a finite number >= 0, got ${String(alpha)}`);
  return {
    ...t, steps, restarts, alpha, start: opts.start ?? 'uniform', loss: checkLoss('pgd', opts.loss ?? 'ce', opts.targets),
    targets: opts.targets, bnMode: opts.bnMode ?? 'eval', generator: opts.generator,
  };
}

/** One PGD run: the worst case over its iterates (the start and every step, the last one included). */
function pgdRun(model: Module, x: Tensor, y: Tensor, s: ReturnType<typeof pgdSettings>): AttackResult {
  const lossOf = (logits: Tensor) => attackLoss(s.loss, logits, y, s.targets);
  const step = stepFn(x, s.norm, s.eps, s.alpha);
  let cur = keep(startPoint(x, s, s.start, s.generator));
  let worst: WorstCase | null = null;
  try {
    for (let k = 0; k < s.steps; k++) {
      const next = scope(() => {
        const { loss, logits, grad } = lossAndGrad(model, cur, lossOf);
        const wrong = misclassified(logits, y);
        if (!worst) worst = WorstCase.start(cur, loss, wrong);
        else worst.update(cur, loss, wrong);
        return step(cur, grad);
      });
      cur.dispose();
      cur = keep(next);
    }
    scope(() => {
      const { loss, logits } = lossAt(model, cur, lossOf);
      worst!.update(cur, loss, misclassified(logits, y));
    });
    return worst!.result();
  } catch (e) {
    (worst as WorstCase | null)?.dispose();
    throw e;
  } finally {
    cur.dispose();
  }
}

/**
 * Evaluation PGD: `restarts` runs of `steps` steps, keeping per example any misclassified iterate, else the
 * highest-loss one. BN runs in the attack mode; nothing is read back.
 */
export function pgd(model: Module, x: Tensor, y: Tensor, opts: PgdOptions): AttackResult {
  const s = pgdSettings(opts);
  return withAttackMode(model, s.bnMode, () => {
    const first = pgdRun(model, x, y, s);
    if (s.restarts === 1) return first;
    const worst = WorstCase.start(first.xAdv, first.loss, first.fooled);
    for (const t of [first.xAdv, first.fooled, first.loss]) t.dispose();
    for (let r = 1; r < s.restarts; r++) {
      const run = pgdRun(model, x, y, s);
      worst.merge(run);
      for (const t of [run.xAdv, run.fooled, run.loss]) t.dispose();
    }
    return worst.result();
  });
}

/** FGSM: one step of size eps from x (no random start), a canary for gradient masking (METHODS §8). */
export function fgsm(model: Module, x: Tensor, y: Tensor, opts: ThreatModel & { loss?: AttackLoss; targets?: Tensor; bnMode?: AttackBnMode; generator: Generator }): AttackResult {
  return pgd(model, x, y, { ...opts, steps: 1, alpha: opts.eps, start: 'none' });
}
