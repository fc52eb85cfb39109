/**
 * Soups with coefficients given in advance: the uniform soup (Wortsman et al.: every tensor the mean of the
 * ingredients') and any fixed mixture (an interpolation point, a learned soup's coefficients re-used).
 */
import { soupLayers, soupModel, soupOf, type CoefficientValues } from './assemble.js';
import type { Ingredients } from './ingredients.js';
import { checkCriterion, evaluateSoup, type SoupCriterion, type SoupEvaluation } from './metric.js';
import { assembledBn, type SoupMethod, type SoupResult } from './result.js';

export const DEFAULT_CRITERION: SoupCriterion = { cleanWeight: 0.5 };

/** The soup of `coefficients`, scored on the held-out split. */
export async function fixedSoup(ing: Ingredients, coefficients: CoefficientValues, heldOut: SoupEvaluation, opts: { criterion?: SoupCriterion; method?: SoupMethod } = {}): Promise<SoupResult> {
  const criterion = checkCriterion('fixedSoup', opts.criterion ?? DEFAULT_CRITERION);
  const t0 = performance.now();
  const state = soupOf(ing, coefficients);
  try {
    const metrics = await evaluateSoup(soupModel(ing, state), heldOut);
    const perLayer = Array.isArray(coefficients[0]);
    return {
      method: opts.method ?? 'fixed', coefficients, ...(perLayer ? { layers: soupLayers(ing).labels } : {}), criterion,
      heldOut: metrics, wallMs: performance.now() - t0, bn: assembledBn(ing), state,
    };
  } catch (e) {
    for (const t of state.values()) t.dispose();
    throw e;
  }
}

export function uniformSoup(ing: Ingredients, heldOut: SoupEvaluation, opts: { criterion?: SoupCriterion } = {}): Promise<SoupResult> {
  return fixedSoup(ing, new Array<number>(ing.K).fill(1 / ing.K), heldOut, { ...opts, method: 'uniform' });
}
