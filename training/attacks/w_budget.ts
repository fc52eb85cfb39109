/**
 * W-PGD-budget, the budget-split attack (METHODS §4.6, after the deep-hedging code of the same group), for the
 * (W_2, l_inf) threat over the whole evaluated set: each perturbation is Delta_i = b_i a_i with a budget b_i >= 0
 * and a shape a_i in [-1, 1]^d, so ||Delta_i||_inf <= b_i and the W_2 cost is at most sqrt(mean_i b_i^2) <= delta.
 * Per iteration (x'_i = clamp(x_i + b_i a_i, 0, 1); L the summed loss):
 *   b <- b + alpha g_b / sqrt(mean_i g_b,i^2)          (W_2-normalised ascent on the budgets, g_b = dL/db)
 *   b <- max(delta b / sqrt(mean_i b_i^2), 0)           (back onto the W_2 sphere; the max can leave it inside)
 *   a <- clip(a + 0.3 sign(g_a) + 0.25 (a - a_prev), -1, 1)   (APGD-like momentum on the shape)
 * from b = delta, a = 1, with alpha = ratio delta / steps. Both means run over all N images (pass 1: every batch's
 * gradients; then the normaliser; pass 2: the budget step; then the sphere; pass 3: the renormalised budgets),
 * but only the [N] budgets need the extra passes: the shapes update batch by batch.
 * The best iterate is the one with the lowest accuracy (as W-PGD; the hedging code keeps the highest loss, which
 * the result reports as lossMax). Reads back once, at the end.
 */
import * as o from '../../engine/ops/index.js';
import { full } from '../../engine/create.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import { BestIterate, KeptRows } from './best_iterate.js';
import { evalSet, joinRows, type EvalData, type EvalSet } from './eval_set.js';
import { attackLoss, misclassified } from './objective.js';
import { perExample } from './threat.js';
import { setDistance, W_LOSSES, type WLoss, type WpgdResult } from './wasserstein.js';
import { W_TINY } from './w_step.js';

export interface WpgdBudgetOptions {
  /** The W_2 budget (l_inf cost). */
  delta: number;
  /** Iterations; default 20. */
  steps?: number;
  /** The budget step is ratio * delta / steps; default 4. */
  ratio?: number;
  /** Shape step (0.3) and momentum (0.25) of the hedging code. */
  shapeStep?: number;
  momentum?: number;
  /** Default 'redlr'. */
  loss?: WLoss;
  batchSize?: number;
  bnMode?: AttackBnMode;
}

interface Settings { delta: number; steps: number; alpha: number; shapeStep: number; momentum: number; loss: WLoss; batchSize: number | undefined; bnMode: AttackBnMode }

function settings(opts: WpgdBudgetOptions): Settings {
  const what = 'wpgdBudget';
  const num = (name: string, v: unknown, min: number): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new RangeError(`${what}: ${name} must be a finite number >= ${min}, got ${String(v)}`);
    return v;
  };
  const delta = num('delta', opts.delta, 0);
  const steps = opts.steps ?? 20;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`${what}: steps must be an integer >= 1, got ${String(steps)}`);
  const loss = opts.loss ?? 'redlr';
  if (!W_LOSSES.includes(loss)) throw new RangeError(`${what}: loss must be one of ${W_LOSSES.join(', ')}, got ${JSON.stringify(loss)}`);
  return {
    delta, steps, alpha: (num('ratio', opts.ratio ?? 4, 0) * delta) / steps, shapeStep: num('shapeStep', opts.shapeStep ?? 0.3, 0),
    momentum: num('momentum', opts.momentum ?? 0.25, 0), loss, batchSize: opts.batchSize, bnMode: opts.bnMode ?? 'eval',
  };
}

const pointOf = (x: Tensor, b: Tensor, a: Tensor): Tensor => o.clamp(o.add(x, o.mul(perExample(b, x), a)), 0, 1);

function budgetRun(model: Module, set: EvalSet, st: Settings, best: BestIterate): void {
  const B = set.batches;
  const b = new KeptRows(B.map((v) => full([v.x.shape[0]!], st.delta)));
  const a = new KeptRows(B.map((v) => o.onesLike(v.x)));
  const aPrev = new KeptRows(B.map((v) => o.onesLike(v.x)));
  try {
    for (let t = 0; t <= st.steps; t++) {
      const last = t === st.steps;
      const p1 = scope(() => {
        const rows = B.map((v, i) => {
          const lossOf = (z: Tensor) => attackLoss(st.loss, z, v.y);
          if (last) {
            return noGrad(() => {
              const point = pointOf(v.x, b.t[i]!, a.t[i]!);
              const logits = model.forward(point);
              return { point, loss: lossOf(logits), correct: o.sub(1, misclassified(logits, v.y)), gb: null, ga: null };
            });
          }
          return scope(() => {
            const bb = b.t[i]!.detach();
            const aa = a.t[i]!.detach();
            bb.requiresGrad = true;
            aa.requiresGrad = true;
            const point = pointOf(v.x, bb, aa);
            const logits = model.forward(point);
            const loss = lossOf(logits);
            const [gb, ga] = o.gradOf([o.sum(loss)], [bb, aa]);
            return { point: point.detach(), loss: loss.detach(), correct: o.sub(1, misclassified(logits, v.y)), gb: gb!, ga: ga! };
          });
        });
        best.observe(t, rows);
        if (last) return null;
        // The budgets: the W_2-normalised ascent step, then the global renormalisation onto the W_2 sphere.
        const norm = o.add(o.sqrt(o.mean(o.square(joinRows(rows.map((r) => r.gb!))))), W_TINY);
        const stepped = rows.map((r, i) => o.add(b.t[i]!, o.mul(o.div(r.gb!, norm), st.alpha)));
        const scale = o.div(st.delta, o.add(o.sqrt(o.mean(o.square(joinRows(stepped)))), W_TINY));
        return rows.map((r, i) => ({
          b: o.maximum(o.mul(stepped[i]!, scale), 0),
          a: o.clamp(o.add(o.add(a.t[i]!, o.mul(o.sign(r.ga!), st.shapeStep)), o.mul(o.sub(a.t[i]!, aPrev.t[i]!), st.momentum)), -1, 1),
        }));
      });
      if (!p1) break;
      p1.forEach((r, i) => {
        b.set(i, r.b);
        aPrev.set(i, a.t[i]!);
        a.t[i] = keep(r.a);
      });
    }
  } finally {
    [b, a, aPrev].forEach((r) => r.dispose());
  }
}

/** W-PGD-budget over the whole evaluated set `data` (see the header); the result has W-PGD's shape (q = 2, s = 1). */
export async function wpgdBudget(model: Module, data: EvalData, opts: WpgdBudgetOptions): Promise<WpgdResult> {
  const st = settings(opts);
  const set = evalSet('wpgdBudget', data, st.batchSize);
  const best = new BestIterate(set);
  try {
    withAttackMode(model, st.bnMode, () => budgetRun(model, set, st, best));
    return await best.read((pts) => setDistance(set, pts, 2, 1));
  } catch (e) {
    best.dispose();
    throw e;
  } finally {
    set.release();
  }
}
