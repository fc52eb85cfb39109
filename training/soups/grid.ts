/**
 * Grid searches over fixed coefficients, scored on the held-out split: the interpolation between two
 * ingredients, theta(t) = (1 - t) theta_i + t theta_j for t = 0, step, ..., 1 (default step 0.05: 0.1 is
 * too coarse where the curve is steep, METHODS §7.6), and the simplex of all K ingredients (every
 * coefficient a multiple of `step`, summing to 1: 66 points for K = 3 at the default 0.1, 231 at 0.05).
 * The grid's end points are the ingredients bit for bit (zero coefficients drop their terms).
 */
import { disposeSoup, soupModel, soupOf } from './assemble.js';
import { SoupError, type Ingredients } from './ingredients.js';
import { argBest, checkCriterion, evaluateSoup, criterionScore, type SoupCriterion, type SoupEvaluation, type SoupMetrics } from './metric.js';
import { assembledBn, type SoupResult } from './result.js';
import { DEFAULT_CRITERION } from './fixed.js';

export interface GridPoint { coefficients: number[]; metrics: SoupMetrics; score: number }

export interface GridSoupResult extends SoupResult {
  coefficients: number[];
  /** Every point, in grid order. */
  points: GridPoint[];
}

/** 1 / step as an integer, or an error. */
function divisions(what: string, step: number): number {
  const n = Math.round(1 / step);
  if (!(step > 0 && step <= 1) || Math.abs(n * step - 1) > 1e-9) throw new SoupError(`${what}: step must divide 1 (0.05, 0.1, 0.25, ...), got ${step}`);
  return n;
}

/** Every K-vector of multiples of 1/n summing to 1, in lexicographic order of the counts (last ingredient fastest). */
export function simplexPoints(K: number, step: number): number[][] {
  const n = divisions('simplexPoints', step);
  const out: number[][] = [];
  const counts: number[] = [];
  const walk = (k: number, left: number) => {
    if (k === K - 1) { out.push([...counts, left].map((c) => c / n)); return; }
    for (let c = left; c >= 0; c--) { counts.push(c); walk(k + 1, left - c); counts.pop(); }
  };
  if (K < 1) throw new SoupError(`simplexPoints: K must be >= 1, got ${K}`);
  walk(0, n);
  return out;
}

/** Scores each coefficient vector on the held-out split; the best (first on ties) becomes the soup. */
export async function searchPoints(ing: Ingredients, grid: readonly number[][], heldOut: SoupEvaluation, criterion: SoupCriterion, t0: number): Promise<GridSoupResult> {
  const points: GridPoint[] = [];
  for (const c of grid) {
    const soup = soupOf(ing, c);
    try {
      const metrics = await evaluateSoup(soupModel(ing, soup), heldOut);
      points.push({ coefficients: c, metrics, score: criterionScore(metrics, criterion) });
    } finally {
      disposeSoup(soup);
    }
  }
  const best = points[argBest(points.map((p) => p.score))]!;
  const state = soupOf(ing, best.coefficients);
  return { method: 'grid', coefficients: best.coefficients, criterion, heldOut: best.metrics, wallMs: performance.now() - t0, bn: assembledBn(ing), state, points };
}

/** The two-model curve from ingredient pair[0] (t = 0) to pair[1] (t = 1), as K-vectors. */
export function interpolationPoints(K: number, pair: readonly [number, number], step: number): number[][] {
  const n = divisions('interpolationPoints', step);
  const [i, j] = pair;
  if (!(Number.isInteger(i) && Number.isInteger(j) && i >= 0 && j >= 0 && i < K && j < K && i !== j)) throw new SoupError(`interpolation: pair must be two different ingredients in [0, ${K}), got [${pair.join(', ')}]`);
  return Array.from({ length: n + 1 }, (_, s) => {
    const c = new Array<number>(K).fill(0);
    c[i] = (n - s) / n;
    c[j] = s / n;
    return c;
  });
}

export function interpolationSoup(ing: Ingredients, heldOut: SoupEvaluation, opts: { pair?: [number, number]; step?: number; criterion?: SoupCriterion } = {}): Promise<GridSoupResult> {
  const criterion = checkCriterion('interpolationSoup', opts.criterion ?? DEFAULT_CRITERION);
  return searchPoints(ing, interpolationPoints(ing.K, opts.pair ?? [0, 1], opts.step ?? 0.05), heldOut, criterion, performance.now());
}

/** The grid soup: the interpolation for K = 2 (step 0.05), the simplex grid for K >= 3 (step 0.1 unless given). */
export function gridSoup(ing: Ingredients, heldOut: SoupEvaluation, opts: { step?: number; criterion?: SoupCriterion } = {}): Promise<GridSoupResult> {
  const criterion = checkCriterion('gridSoup', opts.criterion ?? DEFAULT_CRITERION);
  if (ing.K < 2) throw new SoupError(`gridSoup: needs at least 2 ingredients, got ${ing.K}`);
  const grid = ing.K === 2 ? interpolationPoints(2, [0, 1], opts.step ?? 0.05) : simplexPoints(ing.K, opts.step ?? 0.1);
  return searchPoints(ing, grid, heldOut, criterion, performance.now());
}
