/**
 * W-PGD and W-FGSM (Bai, He, Jiang, Obloj 2023; METHODS §4.3) over a whole evaluated set, batch by batch but
 * normalised and projected globally. Each iteration:
 *   pass 1, per batch: the loss, prediction and input gradient at the current iterate, the per-image dual norms
 *     ||g_i||_s and direction coefficients ([B] vectors; the direction is never stored, w_step.ts);
 *   then, on the GPU: the iterate's accuracy and whether it is the best so far (best_iterate.ts: a compare-and-select
 *     per batch), and the W_2 normaliser of the direction over all N images;
 *   pass 2, per batch: the step (q = 1: projected onto the delta-ball in the same fused dispatch), and for q = 2
 *     the per-image radii of the stepped set;
 *   then the global contraction factor kappa from the [N] radii, and pass 3 projects every batch with it.
 * Nothing is read back until the end, where one small vector (the accuracy of every iterate, the loss maximum,
 * the step of the best iterate, its W distance) comes back at once.
 *
 * Differences from attacker.py, on purpose: the clean set (iterate 0) is a candidate for the lowest accuracy
 * (the reference starts its minimum at 1 and never evaluates it; the clean set is inside every ball); for q = 2
 * the stepped set is clamped to [0, 1] before the contraction (`clampFirst`, default true: a binding budget then
 * holds with equality; false is the reference's order); the pointwise l_2 projection is the true one by default
 * ('sphere' replicates the reference); the accuracy of an iterate comes from the next iteration's forward pass
 * instead of a separate one (the same value).
 */
import * as o from '../../engine/ops/index.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import { BestIterate, KeptRows, type TrajectoryResult } from './best_iterate.js';
import { evalSet, joinRows, type EvalData, type EvalSet } from './eval_set.js';
import { attackLoss, lossAndGrad, lossAt, misclassified } from './objective.js';
import { normPerExample } from './threat.js';
import {
  ascentStep, checkProjection, checkWThreat, contractionFactor, costNorm, directionCoefficient, directionLength, directionScale,
  dualNormPerExample, noBall, perturbationRadii, projectContracted, projectSphere, wAggregate, type WOrder, type WProjection,
  type WProjectionOptions, type WThreat,
} from './w_step.js';

/** The losses of the W-DRO code (loss_fns.py). ReDLR spends no budget on images already misclassified. */
export const W_LOSSES = ['ce', 'dlr', 'redlr'] as const;
export type WLoss = (typeof W_LOSSES)[number];

export interface WpgdOptions extends WThreat, WProjectionOptions {
  /** Iterations; default 50 (attacker.py's ITR). */
  steps?: number;
  /** Step size; default 1.875 delta / steps (attacker.py's RATIO). */
  alpha?: number;
  /** Default 'redlr' (METHODS §5.4 runs it first, then 'ce'). */
  loss?: WLoss;
  /** Images per forward/backward; the budget is over the whole set regardless. Default 256. */
  batchSize?: number;
  bnMode?: AttackBnMode;
}

export type WpgdSettings = WThreat & WProjection & { steps: number; alpha: number; loss: WLoss; batchSize: number | undefined; bnMode: AttackBnMode };

export function wpgdSettings(what: string, opts: WpgdOptions): WpgdSettings {
  const t = checkWThreat(what, opts);
  const steps = opts.steps ?? 50;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`${what}: steps must be an integer >= 1, got ${String(steps)}`);
  const alpha = opts.alpha ?? (1.875 * t.delta) / steps;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) throw new RangeError(`${what}: alpha must be a finite number >= 0, got ${String(alpha)}`);
  const loss = opts.loss ?? 'redlr';
  if (!W_LOSSES.includes(loss)) throw new RangeError(`${what}: loss must be one of ${W_LOSSES.join(', ')}, got ${JSON.stringify(loss)}`);
  return { ...t, ...checkProjection(what, opts), steps, alpha, loss, batchSize: opts.batchSize, bnMode: opts.bnMode ?? 'eval' };
}

/** W-PGD's result: the trajectory's best iterate (best_iterate.ts). */
export type WpgdResult = TrajectoryResult;

/** The whole attack on the device, iterates reported to `best`; nothing is read back. */
function wpgdRun(model: Module, set: EvalSet, st: WpgdSettings, best: BestIterate): void {
  const B = set.batches;
  const cur = new KeptRows(B.map((b) => o.clone(b.x)));
  try {
    for (let t = 0; t <= st.steps; t++) {
      const last = t === st.steps;
      // Pass 1: every batch's gradient (none at the last iterate, only its accuracy), then the global scale.
      const p1 = scope(() => {
        const rows = B.map((b, i) => {
          const lossOf = (logits: Tensor) => attackLoss(st.loss, logits, b.y);
          const correct = (logits: Tensor) => o.sub(1, misclassified(logits, b.y));
          if (last) {
            const at = lossAt(model, cur.t[i]!, lossOf);
            return { point: cur.t[i]!, correct: correct(at.logits), loss: at.loss, g: null, gNorm: null, c: null };
          }
          const at = lossAndGrad(model, cur.t[i]!, lossOf);
          const gNorm = dualNormPerExample(at.grad, st.s);
          return { point: cur.t[i]!, correct: correct(at.logits), loss: at.loss, g: at.grad, gNorm, c: directionCoefficient(gNorm, st.q, st.s) };
        });
        best.observe(t, rows);
        if (last) return [];
        const scale = st.q === 2 ? o.mul(directionScale(joinRows(rows.map((r) => directionLength(r.gNorm!, r.c!, st.s)))), st.alpha) : st.alpha;
        return rows.map((r) => ({ g: r.g!, gNorm: r.gNorm!, a: o.mul(r.c!, scale) }));
      });
      if (last) break;
      // Pass 2: the step; q = 1 projects here, q = 2 collects the radii of the stepped set.
      const stepped: Tensor[] = [];
      const radii: Tensor[] = [];
      try {
        B.forEach((b, i) => {
          const [x, from, { g, gNorm, a }] = [b.x, cur.t[i]!, p1[i]!];
          if (st.q === 1) {
            cur.set(i, st.s === 2 && st.l2Pointwise === 'sphere' ? scope(() => projectSphere(x, ascentStep(x, from, g, a, 2), st.delta)) : ascentStep(x, from, g, a, st.s, st.delta, gNorm));
            return;
          }
          stepped.push(keep(st.clampFirst ? scope(() => ascentStep(x, from, g, a, st.s, noBall(x), gNorm)) : ascentStep(x, from, g, a, st.s)));
          radii.push(keep(perturbationRadii(x, stepped[i]!, st.s, st.cap)));
        });
        if (st.q === 2) {
          // Pass 3: the global contraction onto the W_2 ball.
          const kappa = scope(() => contractionFactor(joinRows(radii), st.delta));
          B.forEach((b, i) => cur.set(i, projectContracted(b.x, stepped[i]!, st.s, kappa, radii[i]!)));
          kappa.dispose();
        }
      } finally {
        [...stepped, ...radii, ...p1.flatMap((r) => [r.g, r.gNorm, r.a])].forEach((v) => v.dispose());
      }
    }
  } finally {
    cur.dispose();
  }
}

/** W_p distance of per-batch points to the clean set (identity coupling), as []. */
export function setDistance(set: EvalSet, points: readonly Tensor[], q: WOrder, s: WOrder): Tensor {
  return noGrad(() => scope(() => wAggregate(joinRows(set.batches.map((b, i) => normPerExample(o.sub(points[i]!, b.x), costNorm(s)))), q)));
}

/**
 * W-PGD under the (W_p, l_r) threat `q`, `s`, `delta` over the whole evaluated set `data` (METHODS §4.3): no
 * random start, the best iterate by lowest accuracy. Reads back once, at the end.
 */
export async function wpgd(model: Module, data: EvalData, opts: WpgdOptions): Promise<WpgdResult> {
  const st = wpgdSettings('wpgd', opts);
  const set = evalSet('wpgd', data, st.batchSize);
  const best = new BestIterate(set);
  try {
    withAttackMode(model, st.bnMode, () => wpgdRun(model, set, st, best));
    return await best.read((pts) => setDistance(set, pts, st.q, st.s));
  } catch (e) {
    best.dispose();
    throw e;
  } finally {
    set.release();
  }
}

/** W-FGSM: W-PGD with one step of size delta (attacker.py's wfgsm). */
export function wfgsm(model: Module, data: EvalData, opts: Omit<WpgdOptions, 'steps' | 'alpha'>): Promise<WpgdResult> {
  return wpgd(model, data, { ...opts, steps: 1, alpha: opts.delta });
}
