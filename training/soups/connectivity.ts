/**
 * Linear mode connectivity, checked before any soup (METHODS §7.3, §7.6): the 11-point curve
 * theta(t) = (1 - t) theta_i + t theta_j, t = 0, 0.1, ..., 1, clean and PGD accuracy on the held-out split.
 * Fine-tunes of one base stay within ~0.3 points of the straight line between the curve's ends; networks
 * trained independently from scratch collapse to near chance in between, and their average is worthless.
 *
 * The barrier of a metric is the most it falls below that straight line at any interior point. The check
 * fails when the clean or the PGD barrier exceeds `maxBarrier` (default 0.1: 10 accuracy points, well
 * above the held-out noise of a 1000-image split and far below the collapse of unrelated networks); it then
 * throws unless `force`, and the report keeps the whole curve either way. Pairs: the first ingredient
 * against each other one, unless given.
 */
import { interpolationPoints } from './grid.js';
import { disposeSoup, soupModel, soupOf } from './assemble.js';
import { SoupError, type Ingredients } from './ingredients.js';
import { evaluateSoup, type SoupEvaluation, type SoupMetrics } from './metric.js';

export interface CurvePoint { t: number; metrics: SoupMetrics }

export interface Barrier {
  /** max over interior t of line(t) - metric(t) (negative: the curve stays above the line). */
  value: number;
  /** Where it is reached. */
  t: number;
}

export interface ConnectivityCurve {
  pair: [number, number];
  labels: [string, string];
  points: CurvePoint[];
  barrier: { clean: Barrier; robust: Barrier };
  passed: boolean;
}

export interface ConnectivityReport {
  curves: ConnectivityCurve[];
  maxBarrier: number;
  passed: boolean;
  /** The check failed and the caller went on anyway. */
  forced: boolean;
  wallMs: number;
}

export interface ConnectivityOptions {
  pairs?: [number, number][];
  maxBarrier?: number;
  force?: boolean;
  /** Points on each curve (default 11: step 0.1). */
  points?: number;
}

/** The refusal: the ingredients are not linearly connected. */
export class ConnectivityError extends SoupError {
  constructor(message: string, readonly report: ConnectivityReport) {
    super(message);
  }
}

export function barrierOf(points: readonly CurvePoint[], metric: 'clean' | 'robust'): Barrier {
  const first = points[0]!.metrics[metric];
  const last = points[points.length - 1]!.metrics[metric];
  let worst: Barrier = { value: -Infinity, t: NaN };
  for (const p of points.slice(1, -1)) {
    const gap = (1 - p.t) * first + p.t * last - p.metrics[metric];
    if (gap > worst.value) worst = { value: gap, t: p.t };
  }
  return points.length > 2 ? worst : { value: 0, t: NaN };
}

/** The held-out curve between two ingredients; `cache` holds the ingredients' own metrics across curves. */
export async function interpolationCurve(ing: Ingredients, pair: [number, number], heldOut: SoupEvaluation, points = 11, cache = new Map<number, SoupMetrics>()): Promise<CurvePoint[]> {
  if (!Number.isInteger(points) || points < 3) throw new SoupError(`interpolationCurve: points must be an integer >= 3, got ${points}`);
  const grid = interpolationPoints(ing.K, pair, 1 / (points - 1));
  const out: CurvePoint[] = [];
  for (const [s, c] of grid.entries()) {
    const t = s / (points - 1);
    const end = s === 0 ? pair[0] : s === points - 1 ? pair[1] : null;
    let metrics = end === null ? undefined : cache.get(end);
    if (!metrics) {
      // The ends are the ingredients themselves: their modules give the same numbers as a one-hot soup.
      if (end !== null) metrics = await evaluateSoup(ing.models[end]!, heldOut);
      else {
        const soup = soupOf(ing, c);
        try { metrics = await evaluateSoup(soupModel(ing, soup), heldOut); } finally { disposeSoup(soup); }
      }
      if (end !== null) cache.set(end, metrics);
    }
    out.push({ t, metrics });
  }
  return out;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export async function checkConnectivity(ing: Ingredients, heldOut: SoupEvaluation, opts: ConnectivityOptions = {}): Promise<ConnectivityReport> {
  const maxBarrier = opts.maxBarrier ?? 0.1;
  if (!(maxBarrier >= 0)) throw new SoupError(`checkConnectivity: maxBarrier must be >= 0, got ${maxBarrier}`);
  if (ing.K < 2) throw new SoupError(`checkConnectivity: needs at least 2 ingredients, got ${ing.K}`);
  const pairs = opts.pairs ?? Array.from({ length: ing.K - 1 }, (_, k) => [0, k + 1] as [number, number]);
  const t0 = performance.now();
  const cache = new Map<number, SoupMetrics>();
  const curves: ConnectivityCurve[] = [];
  for (const pair of pairs) {
    const points = await interpolationCurve(ing, pair, heldOut, opts.points ?? 11, cache);
    const barrier = { clean: barrierOf(points, 'clean'), robust: barrierOf(points, 'robust') };
    curves.push({ pair, labels: [ing.labels[pair[0]]!, ing.labels[pair[1]]!], points, barrier, passed: barrier.clean.value <= maxBarrier && barrier.robust.value <= maxBarrier });
  }
  const passed = curves.every((c) => c.passed);
  const report: ConnectivityReport = { curves, maxBarrier, passed, forced: !passed && !!opts.force, wallMs: performance.now() - t0 };
  if (!passed && !opts.force) {
    const c = curves.find((x) => !x.passed)!;
    const which = c.barrier.clean.value > maxBarrier ? 'clean' : 'robust';
    const b = c.barrier[which];
    const at = c.points.find((p) => p.t === b.t)!.metrics[which];
    throw new ConnectivityError(`the ingredients are not linearly connected: between ${c.labels[0]} and ${c.labels[1]}, ${which === 'clean' ? 'clean' : 'PGD'} accuracy at t = ${b.t.toFixed(2)} is ${pct(at)}, `
      + `${pct(b.value)} below the straight line between its ends (${pct(c.points[0]!.metrics[which])} and ${pct(c.points[c.points.length - 1]!.metrics[which])}; allowed ${pct(maxBarrier)}). `
      + 'Independently trained networks do not average (METHODS §7.6); soup fine-tunes of one base, or pass force to soup anyway', report);
  }
  return report;
}
