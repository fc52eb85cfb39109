/**
 * How a soup is scored on a split (held-out for every choice a soup method makes, the test split only for
 * the final report): clean accuracy and cross-entropy, and PGD accuracy and the cross-entropy at the PGD
 * points, with BN in eval mode. The attack is white-box on the model given (the soup itself, never an
 * ingredient), from a fresh generator of a fixed seed, so that two soups are attacked from the same starts.
 * Sums stay on the GPU; one readback per evaluation.
 */
import * as o from '../../engine/ops/index.js';
import { Generator } from '../../engine/rng.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Module } from '../../nn/module.js';
import { pgd } from '../attacks/pgd.js';
import type { Norm } from '../attacks/threat.js';
import { countOf, type Examples } from '../data/image_set.js';
import { evalBatches } from '../data/loader.js';
import { SoupError } from './ingredients.js';

export interface SoupAttack {
  eps: number;
  steps: number;
  /** Default 2.5 eps / steps. */
  alpha?: number;
  norm?: Norm;
  restarts?: number;
}

export interface SoupEvaluation {
  examples: Examples;
  /** The PGD evaluation attack (cross-entropy, random start). */
  attack: SoupAttack;
  batchSize?: number;
  /** Seed of the attack's generator, fresh for every evaluation (default 0). */
  seed?: number;
  /** Called after each evaluation of this split (progress of a search: methods do not say how far they are). */
  onEvaluated?: (metrics: SoupMetrics) => void;
}

export interface SoupMetrics {
  /** Clean accuracy in [0, 1]. */
  clean: number;
  /** PGD accuracy in [0, 1]. */
  robust: number;
  /** Mean cross-entropy on clean examples. */
  cleanLoss: number;
  /** Mean cross-entropy at the PGD points. */
  robustLoss: number;
  n: number;
}

/** What a soup method maximises on the held-out split: clean or PGD accuracy, or w * clean + (1 - w) * robust. */
export type SoupCriterion = 'clean' | 'robust' | { cleanWeight: number };

export function checkCriterion(what: string, c: SoupCriterion): SoupCriterion {
  if (c === 'clean' || c === 'robust') return c;
  const w = (c as { cleanWeight?: unknown } | null)?.cleanWeight;
  if (typeof w !== 'number' || !(w >= 0 && w <= 1)) throw new SoupError(`${what}: criterion must be 'clean', 'robust' or { cleanWeight: w } with w in [0, 1], got ${JSON.stringify(c)}`);
  return c;
}

export function criterionScore(m: SoupMetrics, c: SoupCriterion): number {
  if (c === 'clean') return m.clean;
  if (c === 'robust') return m.robust;
  return c.cleanWeight * m.clean + (1 - c.cleanWeight) * m.robust;
}

export function describeCriterion(c: SoupCriterion): string {
  return typeof c === 'string' ? `${c} accuracy` : `${c.cleanWeight} * clean + ${1 - c.cleanWeight} * PGD accuracy`;
}

/** Clean and PGD metrics of `model` on the split (eval mode for the call; the model's modes are restored). */
export async function evaluateSoup(model: Module, ev: SoupEvaluation): Promise<SoupMetrics> {
  const n = countOf(ev.examples);
  if (n === 0) throw new SoupError('evaluateSoup: the split is empty');
  const generator = new Generator(ev.seed ?? 0);
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  model.eval();
  // [correct clean, CE sum clean, fooled, CE sum at the PGD points]
  const device = model.device;
  let sums = keep(o.zeros([4], { device }));
  try {
    for (const b of evalBatches(ev.examples, { batchSize: ev.batchSize ?? 256, device })) {
      const next = scope(() => {
        const clean = noGrad(() => model.forward(b.x));
        const adv = pgd(model, b.x, b.y, { norm: ev.attack.norm ?? 'linf', eps: ev.attack.eps, steps: ev.attack.steps, alpha: ev.attack.alpha, restarts: ev.attack.restarts, generator });
        const advLogits = noGrad(() => model.forward(adv.xAdv));
        const right = o.eq(o.toFloat32(o.argmax(clean, 1)), o.toFloat32(b.y));
        const batch = [o.sum(right), o.crossEntropy(clean, b.y, { reduction: 'sum' }), o.sum(adv.fooled), o.crossEntropy(advLogits, b.y, { reduction: 'sum' })];
        return o.add(sums, o.concat(batch.map((t) => o.reshape(t, [1]))));
      });
      b.x.dispose();
      b.y.dispose();
      sums.dispose();
      sums = keep(next);
    }
    const [right, ce, fooled, advCe] = Array.from(await sums.read());
    const metrics = { clean: right! / n, robust: 1 - fooled! / n, cleanLoss: ce! / n, robustLoss: advCe! / n, n };
    ev.onEvaluated?.(metrics);
    return metrics;
  } finally {
    sums.dispose();
    for (const [m, t] of modes) m.training = t;
  }
}

/** Index of the best score; ties go to the first. */
export function argBest(scores: readonly number[]): number {
  let best = 0;
  scores.forEach((s, i) => { if (s > scores[best]!) best = i; });
  return best;
}
