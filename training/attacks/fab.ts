/**
 * FAB, the fast adaptive boundary attack (Croce & Hein 2020), L-inf and L2, untargeted and targeted (FAB-T),
 * as AutoAttack runs it (fra31/auto-attack fab_base.py; METHODS.md §1.3): a minimal-norm attack, counted as
 * a success only where the smallest adversarial perturbation it finds has norm <= eps.
 *
 * One run from a start x_1 (x itself, or for restarts after the first a random point at radius eps / 2):
 * each of `steps` iterations linearises the decision boundary between the label y and a class j at x_1,
 *   f(z) ~ (z_j - z_y)(x_1) + (g_j - g_y) . (z - x_1),   g_k = d z_k / d x at x_1,
 * with j the target (FAB-T) or the class whose boundary is nearest in that linearisation (untargeted:
 * argmin_j |z_j - z_y| / ||g_j - g_y||_q, q the dual norm); projects both x_1 and the original x onto that
 * hyperplane inside [0, 1]^D (fab_projection: d_1, d_2); and steps to the biased combination
 *   x_1 <- clamp((1 - a)(x_1 + eta d_1) + a (x + eta d_2), 0, 1),   a = min(||d_1|| / (||d_1|| + ||d_2||), alpha_max),
 * so a point close to the boundary goes mostly straight to it, pulled a little towards x. Where the new x_1 is
 * misclassified it is recorded if it is the closest to x so far, and x_1 moves back towards x:
 * x_1 <- x + beta (x_1 - x). FAB-T runs this for each of the `targetClasses` runner-up classes of the clean
 * logits (the 2nd, 3rd, ... largest), `restarts` times each; untargeted FAB `restarts` times.
 *
 * Everything is per example on the GPU, with no readback: every example goes through every run (AutoAttack
 * shrinks the batch to the examples still robust, which needs a readback; the AutoAttack driver does that
 * between attacks). Deviation from AutoAttack, which keeps an example's first success below eps: the
 * smallest adversarial point over all runs is kept; which examples count as fooled is the same.
 * Untargeted FAB takes K - 1 backward passes per iteration through one forward (one per class j != y, each
 * seeded with e_j - e_y, so g_j - g_y comes out directly and only the nearest is kept; AutoAttack takes K
 * through its jacobian); FAB-T one. Each iteration also runs one forward at the new x_1, as AutoAttack does.
 *
 * The result: xAdv is the smallest adversarial point found where its norm is <= eps, else x (always inside
 * the ball and [0, 1]); fooled marks those (examples misclassified at x count, with xAdv = x); `loss` is the
 * negated norm of the smallest adversarial perturbation found, inside the budget or not (0 for examples
 * misclassified at x; -1e10, AutoAttack's sentinel, where none was found): higher is closer to broken, as for
 * the other attacks' losses.
 */
import * as o from '../../engine/ops/index.js';
import { arange, full } from '../../engine/create.js';
import type { Generator } from '../../engine/rng.js';
import { keep, scope, track } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmt } from '../../engine/shape.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import { lossAndGrad, misclassified } from './objective.js';
import type { AttackResult } from './result.js';
import { checkThreat, normPerExample, perExample, startPoint, type Norm, type ThreatModel } from './threat.js';

export interface FabOptions extends ThreatModel {
  /** Iterations per run (default 100, AutoAttack's). */
  steps?: number;
  /** Runs per target class (FAB-T) or in all (FAB); the first starts at x, the others at random (default 1). */
  restarts?: number;
  /** FAB-T: towards each of the runner-up classes in turn (default false). */
  targeted?: boolean;
  /** FAB-T: how many runner-up classes, at most K - 1 (default 9, AutoAttack's). */
  targetClasses?: number;
  /** FAB-T: rank of the first target among the runner-up classes (1: the most likely after the top one; default 1). */
  targetFrom?: number;
  /** Largest pull towards x in the step (default 0.1). */
  alphaMax?: number;
  /** Overshoot of the projections (default 1.05). */
  eta?: number;
  /** Backward step towards x after a success (default 0.9). */
  beta?: number;
  bnMode?: AttackBnMode;
  /** The random starts of restarts after the first draw from here. */
  generator: Generator;
}

/** AutoAttack's "no adversarial point found" norm. */
const NOT_FOUND = 1e10;

type FabSettings = Required<Omit<FabOptions, 'generator'>> & { generator: Generator };

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new RangeError(`fab: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function checkNumber(name: string, v: unknown, lo: number, hi: number, loOpen: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || v > hi) {
    throw new RangeError(`fab: ${name} must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

/** Checks FAB's options where they enter; returns them with AutoAttack's defaults filled in. */
export function fabSettings(opts: FabOptions): FabSettings {
  const t = checkThreat('fab', opts);
  if (opts.targeted !== undefined && typeof opts.targeted !== 'boolean') throw new RangeError(`fab: targeted must be a boolean, got ${String(opts.targeted)}`);
  return {
    ...t,
    steps: checkInt('steps', opts.steps ?? 100, 1),
    restarts: checkInt('restarts', opts.restarts ?? 1, 1),
    targeted: opts.targeted ?? false,
    targetClasses: checkInt('targetClasses', opts.targetClasses ?? 9, 1),
    targetFrom: checkInt('targetFrom', opts.targetFrom ?? 1, 1),
    alphaMax: checkNumber('alphaMax', opts.alphaMax ?? 0.1, 0, 1, false),
    eta: checkNumber('eta', opts.eta ?? 1.05, 0, 100, true),
    beta: checkNumber('beta', opts.beta ?? 0.9, 0, 1, false),
    bnMode: opts.bnMode ?? 'eval',
    generator: opts.generator,
  };
}

/** The dual norm of each example's gradient: the L-inf distance to a hyperplane is |f| / ||g||_1, the L2 one |f| / ||g||_2. */
function dualNorm(g: Tensor, norm: Norm): Tensor {
  const axes = [...g.shape.keys()].slice(1);
  return norm === 'linf' ? o.sum(o.abs(g), axes) : o.sqrt(o.sum(o.square(g), axes));
}

/** The linearised boundary at a point: f = z_j - z_y [N] and its input gradient g ([N, ...] or flat [N, D]). */
interface Boundary { f: Tensor; g: Tensor }

/** FAB-T's boundary: towards the target class, one backward of sum_i (z_t - z_y). */
function targetBoundary(model: Module, x1: Tensor, y: Tensor, target: Tensor): Boundary {
  const col = (idx: Tensor) => (logits: Tensor) => o.reshape(o.gather(logits, 1, o.reshape(idx, [idx.shape[0]!, 1])), [idx.shape[0]!]);
  const { loss, grad } = lossAndGrad(model, x1, (logits) => o.sub(col(target)(logits), col(y)(logits)));
  return { f: loss, g: grad };
}

/**
 * Untargeted FAB's boundary: the nearest one in the linearisation, over the K - 1 classes j != y. Pass m
 * differentiates through the one forward with the seed e_j - e_y (`seeds[m]`, j the m-th class other than y),
 * keeping each example's nearest so far (strictly nearer: ties go to the lower class, as AutoAttack's argmin).
 */
function nearestBoundary(model: Module, x1: Tensor, seeds: Tensor[], norm: Norm): Boundary {
  return scope(() => {
    const xa = x1.detach();
    xa.requiresGrad = true;
    const logits = model.forward(xa);
    const z = logits.detach();
    let best: (Boundary & { dist: Tensor }) | null = null;
    for (const [m, seed] of seeds.entries()) {
      const [grad] = o.gradOf([logits], [xa], { seeds: [seed], retainGraph: m < seeds.length - 1 });
      // Flat [N, D], so that the selects below broadcast over one axis.
      const g = o.reshape(grad!, [x1.shape[0]!, x1.size / Math.max(x1.shape[0]!, 1)]);
      grad!.dispose();
      const cand = noGrad(() => {
        const f = o.sum(o.mul(z, seed), 1);
        return { f, g, dist: o.div(o.abs(f), o.add(dualNorm(g, norm), 1e-12)) };
      });
      if (!best) { best = cand; continue; }
      const prev: Boundary & { dist: Tensor } = best;
      best = noGrad(() => {
        const take = o.lt(cand.dist, prev.dist);
        return { dist: o.where(take, cand.dist, prev.dist), f: o.where(take, cand.f, prev.f), g: o.where(perExample(take, cand.g), cand.g, prev.g) };
      });
      // K - 1 gradients of the whole batch would otherwise stay alive until the scope ends.
      for (const t of [prev.dist, prev.f, prev.g, cand.dist, cand.f, cand.g]) t.dispose();
    }
    return { f: best!.f, g: best!.g };
  });
}

/** The seeds e_j - e_y [N, K] of nearestBoundary, one per class j != y in increasing order. */
function classSeeds(y: Tensor, k: number): Tensor[] {
  return noGrad(() => scope(() => {
    const classes = o.reshape(arange(k, { device: y.device }), [1, k]);
    const yf = o.reshape(o.toFloat32(y), [y.shape[0]!, 1]);
    const onY = o.eq(classes, yf);
    // The m-th class other than y is m where m < y, else m + 1.
    return Array.from({ length: k - 1 }, (_, m) => o.sub(o.eq(classes, o.add(o.le(yf, m), m)), onY));
  }));
}

interface RunResult { adv: Tensor; dist: Tensor }

/**
 * One FAB run from x (or a random start): the closest adversarial point found per example and its distance.
 * The iterates are kept flat, [N, D] (free views of x's shape): the per-example selects broadcast over one
 * axis instead of all of an image's.
 */
function fabRun(model: Module, x: Tensor, y: Tensor, boundary: (x1: Tensor) => Boundary, randomStart: boolean, s: FabSettings): RunResult {
  const n = x.shape[0]!;
  const flat = [n, x.size / Math.max(n, 1)];
  const x0 = o.reshape(x, flat);
  let state = noGrad(() => keep(scope(() => ({
    x1: o.reshape(randomStart ? startPoint(x, { norm: s.norm, eps: s.eps / 2 }, 'apgd', s.generator) : o.clone(x), flat),
    adv: o.clone(x0),
    dist: full([n], NOT_FOUND, { device: x.device }),
  }))));
  try {
    for (let it = 0; it < s.steps; it++) {
      const next = scope(() => {
        const { f, g } = boundary(o.reshape(state.x1, x.shape));
        return noGrad(() => {
          const { x1, adv, dist } = state;
          const w = o.reshape(g, flat);
          // The hyperplane g . z = g . x1 - f, the linearisation's zero set.
          const b = o.sub(o.sum(o.mul(w, x1), 1), f);
          const steps = o.fabProjection(o.concat([x1, x0], 0), w, b, { norm: s.norm });
          const { moved, dist: t } = o.fabStep(x1, x0, steps, { norm: s.norm, eta: s.eta, alphaMax: s.alphaMax });
          const wrong = misclassified(model.forward(o.reshape(moved, x.shape)), y);
          const closer = o.mul(wrong, o.lt(t, dist));
          return { ...o.fabUpdate(moved, x0, adv, { wrong, closer }, { beta: s.beta }), dist: o.where(closer, t, dist) };
        });
      });
      for (const v of Object.values(state)) v.dispose();
      state = keep(next);
    }
    state.x1.dispose();
    const adv = o.reshape(state.adv, x.shape);
    state.adv.dispose();
    track(state.dist);
    return { adv, dist: state.dist };
  } catch (e) {
    for (const v of Object.values(state)) if (!v.disposed) v.dispose();
    throw e;
  } finally {
    x0.dispose();
  }
}

/**
 * FAB (untargeted) or FAB-T (`targeted: true`) at budget eps. BN runs in the attack mode, no weight gradient
 * is computed, and nothing is read back.
 */
export function fab(model: Module, x: Tensor, y: Tensor, opts: FabOptions): AttackResult {
  const s = fabSettings(opts);
  if (x.rank < 2) throw new RangeError(`fab: x must be a batch [N, ...] of at least rank 2, got ${fmt(x.shape)}`);
  if (y.dtype !== 'int32' || y.rank !== 1 || y.shape[0] !== x.shape[0]) throw new RangeError(`fab: y must be int32 labels of shape [${x.shape[0]}], got ${y.dtype} ${fmt(y.shape)}`);
  return withAttackMode(model, s.bnMode, () => scope(() => {
    const logits = noGrad(() => model.forward(x));
    if (logits.rank !== 2) throw new RangeError(`fab: the model must return logits [N, K], got ${fmt(logits.shape)}`);
    const k = logits.shape[1]!;
    if (k < 2) throw new RangeError(`fab: the model must have at least 2 classes, got ${k}`);
    if (s.targeted && s.targetFrom + s.targetClasses - 1 > k - 1) throw new RangeError(`fab: targetClasses must be at most K - 1 = ${k - 1} (the runner-up classes), got ${s.targetClasses}${s.targetFrom > 1 ? ` from rank ${s.targetFrom}` : ''}`);
    const wrong = misclassified(logits, y);
    // Examples misclassified at x are broken at distance 0.
    let best = noGrad(() => keep({ adv: o.clone(x), dist: o.where(wrong, 0, NOT_FOUND) }));
    const fold = (run: RunResult) => {
      const next = noGrad(() => scope(() => {
        const closer = o.lt(run.dist, best.dist);
        return { adv: o.where(perExample(closer, x), run.adv, best.adv), dist: o.minimum(run.dist, best.dist) };
      }));
      for (const v of [best.adv, best.dist, run.adv, run.dist]) v.dispose();
      best = keep(next);
    };
    try {
      if (s.targeted) {
        const ranked = noGrad(() => o.topk(logits, s.targetFrom + s.targetClasses).indices);
        for (let c = s.targetFrom; c < s.targetFrom + s.targetClasses; c++) {
          const target = o.reshape(o.slice(ranked, 1, c, c + 1), [x.shape[0]!]);
          for (let r = 0; r < s.restarts; r++) fold(fabRun(model, x, y, (x1) => targetBoundary(model, x1, y, target), r > 0, s));
        }
      } else {
        const seeds = classSeeds(y, k);
        for (let r = 0; r < s.restarts; r++) fold(fabRun(model, x, y, (x1) => nearestBoundary(model, x1, seeds, s.norm), r > 0, s));
      }
      return noGrad(() => {
        const fooled = o.le(best.dist, s.eps);
        return { xAdv: o.where(perExample(fooled, x), best.adv, x), fooled, loss: o.sub(0, best.dist) };
      });
    } finally {
      best.adv.dispose();
      best.dist.dispose();
    }
  }));
}
