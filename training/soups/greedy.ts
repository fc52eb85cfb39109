/**
 * The greedy soup (Wortsman et al. 2022, model-soups main.py): ingredients sorted by their held-out score,
 * best first; the soup starts as the best one and takes each next ingredient into a uniform average only if
 * the held-out score rises strictly (`>`, as the reference). It never scores below its best ingredient.
 */
import { disposeSoup, soupModel, soupOf, uniformOver } from './assemble.js';
import type { Ingredients } from './ingredients.js';
import { checkCriterion, evaluateSoup, criterionScore, type SoupCriterion, type SoupEvaluation, type SoupMetrics } from './metric.js';
import { assembledBn, type SoupResult } from './result.js';
import { DEFAULT_CRITERION } from './fixed.js';

export interface GreedyStep { ingredient: number; accepted: boolean; metrics: SoupMetrics; score: number }

export interface GreedySoupResult extends SoupResult {
  coefficients: number[];
  /** Each ingredient's own held-out metrics. */
  ingredientMetrics: SoupMetrics[];
  /** Ingredients by held-out score, best first (the order they were tried in). */
  order: number[];
  members: number[];
  steps: GreedyStep[];
}

export async function greedySoup(ing: Ingredients, heldOut: SoupEvaluation, opts: { criterion?: SoupCriterion } = {}): Promise<GreedySoupResult> {
  const criterion = checkCriterion('greedySoup', opts.criterion ?? DEFAULT_CRITERION);
  const t0 = performance.now();
  const ingredientMetrics: SoupMetrics[] = [];
  for (const m of ing.models) ingredientMetrics.push(await evaluateSoup(m, heldOut));
  const scores = ingredientMetrics.map((m) => criterionScore(m, criterion));
  const order = scores.map((_, k) => k).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const members = [order[0]!];
  let best = { metrics: ingredientMetrics[order[0]!]!, score: scores[order[0]!]! };
  const steps: GreedyStep[] = [];
  for (const k of order.slice(1)) {
    const cand = soupOf(ing, uniformOver(ing.K, [...members, k]));
    let metrics: SoupMetrics;
    try {
      metrics = await evaluateSoup(soupModel(ing, cand), heldOut);
    } finally {
      disposeSoup(cand);
    }
    const s = criterionScore(metrics, criterion);
    const accepted = s > best.score;
    steps.push({ ingredient: k, accepted, metrics, score: s });
    if (accepted) { members.push(k); best = { metrics, score: s }; }
  }
  const coefficients = uniformOver(ing.K, members);
  const state = soupOf(ing, coefficients);
  return {
    method: 'greedy', coefficients, criterion, heldOut: best.metrics, wallMs: performance.now() - t0, bn: assembledBn(ing),
    state, ingredientMetrics, order, members, steps,
  };
}
