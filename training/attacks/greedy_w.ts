/**
 * greedy-W, a distributional attack for the (W_2, l_r) threat (METHODS §5.6; ours, no public tool ships it):
 * 1. for every image, the smallest radius at which PGD breaks it, by bisection over [0, rMax] with PGD at one
 *    radius per image (pgd_radii.ts, all images of a batch at once): 0 for an image already misclassified,
 *    +inf for one PGD does not break at rMax; the adversarial point found at the final upper end is kept;
 * 2. the images sorted by the cost of that point, ||x'_i - x_i||_r (at most the radius), and broken cheapest first
 *    while mean_i cost_i^2 <= delta^2 over the whole evaluated set (the order-2 transport cost of the identity
 *    coupling: a feasible W_2 attack). A broken image gets its adversarial point, every other image stays clean.
 * Breaking the most images for a total squared cost is a knapsack with unit values, which the cheapest-first
 * order solves exactly given the costs: the attack is as strong as the radii are small.
 * Two readbacks: the [N] radii and costs (the sort runs on the CPU), then the result's accuracy and budget.
 */
import * as o from '../../engine/ops/index.js';
import { full, tensor } from '../../engine/create.js';
import type { Generator } from '../../engine/rng.js';
import { keep, scope, track } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import { evalSet, joinRows, type EvalData, type EvalSet, type LabelledBatch } from './eval_set.js';
import { checkLoss, misclassified, type AttackLoss } from './objective.js';
import { pgdAtRadii } from './pgd_radii.js';
import { normPerExample, perExample } from './threat.js';
import { costNorm, type WOrder } from './w_step.js';

export interface GreedyWOptions {
  /** The W_2 budget: the RMS over the evaluated set of the per-image distances. */
  delta: number;
  /** Transport cost: 1 for l_inf (default), 2 for l_2. */
  s?: WOrder;
  /** Largest radius tried; default 4 delta (at most 1 for l_inf). `rMaxLimited` in the result says when it bound. */
  rMax?: number;
  /** Bisection steps; the radius is found to rMax / 2^bisections. Default 8. */
  bisections?: number;
  /** PGD steps at each radius tried; default 10, step size 2.5 r / steps. */
  steps?: number;
  /** PGD's loss; default 'ce'. */
  loss?: AttackLoss;
  /**
   * PGD's start: 'none' (default) starts at x, so the search is deterministic and the bracket exact (PGD failed at
   * the lower end it reports); 'uniform' starts at a random point of each image's ball (needs `generator`).
   */
  start?: 'uniform' | 'none';
  batchSize?: number;
  bnMode?: AttackBnMode;
  generator?: Generator;
}

export interface GreedyWResult {
  /** Accuracy of the model on the attacked set, measured by a forward pass over it. */
  accuracy: number;
  /** Images broken in the attacked set (those misclassified clean included). */
  broken: number;
  /** sqrt(mean_i ||xAdv_i - x_i||_r^2) of the attacked set, measured on the GPU: at most delta (float32 rounding aside). */
  budgetSpent: number;
  /** Per image: the bisection's radius (0: misclassified clean; +inf: not broken at rMax). */
  radii: Float32Array;
  /** Per image: the distance of its adversarial point to x (<= its radius; +inf where none was found). */
  costs: Float32Array;
  /** Per image: 1 where it is broken in the attacked set. */
  chosen: Uint8Array;
  /** The budget was left over after every image with a finite radius was broken: a larger rMax may break more. */
  rMaxLimited: boolean;
  /** Resolution of the radii: rMax / 2^bisections. */
  tolerance: number;
  rMax: number;
  n: number;
  /** The attacked set, per batch of the evaluated set (the caller owns the tensors). */
  xAdv: Tensor[];
  /** float32 [N]: 1 where the attacked set is classified correctly. */
  correct: Tensor;
}

type Settings = Required<Omit<GreedyWOptions, 'batchSize' | 'generator'>> & { batchSize: number | undefined; generator: Generator | undefined };

function settings(opts: GreedyWOptions): Settings {
  const what = 'greedyW';
  const delta = opts.delta;
  if (typeof delta !== 'number' || !Number.isFinite(delta) || delta < 0) throw new RangeError(`${what}: delta must be a finite number >= 0, got ${String(delta)}`);
  const s = opts.s ?? 1;
  if (s !== 1 && s !== 2) throw new RangeError(`${what}: s must be 1 (l_inf cost) or 2 (l_2 cost), got ${String(s)}`);
  // At delta 0 only the images wrong when clean can be broken, whatever rMax: the default is then any small radius.
  const rMax = opts.rMax ?? (delta === 0 ? 1 / 255 : s === 1 ? Math.min(1, 4 * delta) : 4 * delta);
  if (typeof rMax !== 'number' || !Number.isFinite(rMax) || rMax <= 0 || (s === 1 && rMax > 1)) throw new RangeError(`${what}: rMax must be a finite number > 0${s === 1 ? ' and <= 1 (l_inf pixel units)' : ''}, got ${String(rMax)}`);
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`${what}: ${name} must be an integer >= ${min}, got ${String(v)}`);
    return v;
  };
  const start = opts.start ?? 'none';
  if (start !== 'uniform' && start !== 'none') throw new RangeError(`${what}: start must be 'uniform' or 'none', got ${JSON.stringify(start)}`);
  if (start === 'uniform' && !opts.generator) throw new TypeError(`${what}: a 'uniform' start needs a generator (every random draw of an attack comes from it)`);
  return {
    delta, s, rMax, bisections: int('bisections', opts.bisections ?? 8, 0), steps: int('steps', opts.steps ?? 10, 1),
    loss: checkLoss(what, opts.loss ?? 'ce', undefined), start, batchSize: opts.batchSize, bnMode: opts.bnMode ?? 'eval', generator: opts.generator,
  };
}

interface BatchRadii { radius: Tensor; cost: Tensor; adv: Tensor }

/** Step 1 for one batch: each image's breaking radius, the adversarial point found there, and its cost. */
function bisect(model: Module, b: LabelledBatch, st: Settings): BatchRadii {
  // Not under noGrad: PGD takes input gradients; nothing else here has a tensor that requires one.
  return scope(() => {
    const pgdOpts = { norm: costNorm(st.s), steps: st.steps, start: st.start, loss: st.loss, generator: st.generator };
    const n = b.x.shape[0]!;
    const wrong0 = noGrad(() => misclassified(model.forward(b.x), b.y));
    const atMax = pgdAtRadii(model, b.x, b.y, full([n], st.rMax), pgdOpts);
    // Images under test: broken at rMax, correct when clean. Their bracket is [lo, hi]; hi always breaks.
    const active = o.mul(atMax.fooled, o.sub(1, wrong0));
    let lo = o.zeros([n]);
    let hi = o.where(active, st.rMax, 0);
    let adv = o.where(perExample(active, b.x), atMax.xAdv, b.x);
    for (let j = 0; j < st.bisections; j++) {
      const step = scope(() => {
        const mid = o.mul(o.add(lo, hi), 0.5);
        const r = pgdAtRadii(model, b.x, b.y, o.mul(mid, active), pgdOpts);
        const broke = o.mul(r.fooled, active);
        return { hi: o.where(broke, mid, hi), lo: o.where(broke, lo, o.where(active, mid, lo)), adv: o.where(perExample(broke, b.x), r.xAdv, adv) };
      });
      [lo, hi, adv].forEach((t) => t.dispose());
      [lo, hi, adv] = [step.lo, step.hi, step.adv];
    }
    const never = o.mul(o.sub(1, atMax.fooled), o.sub(1, wrong0));
    const cost = o.where(never, Infinity, normPerExample(o.sub(adv, b.x), costNorm(st.s)));
    return { radius: o.where(never, Infinity, hi), cost, adv };
  });
}

/** Step 2 on the CPU: the cheapest images first while the mean squared cost stays within delta^2. */
export function chooseCheapest(costs: ArrayLike<number>, delta: number): { chosen: Uint8Array; spent2: number; limited: boolean } {
  const n = costs.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => costs[a]! - costs[b]! || a - b);
  const chosen = new Uint8Array(n);
  const cap = delta * delta * n;
  let total = 0;
  let k = 0;
  for (; k < n; k++) {
    const c = costs[order[k]!]!;
    if (!Number.isFinite(c) || total + c * c > cap) break;
    total += c * c;
    chosen[order[k]!] = 1;
  }
  const limited = k < n && !Number.isFinite(costs[order[k]!]!);
  return { chosen, spent2: total / n, limited };
}

/** The attacked set and its measurements, on the device: [correct count, sum of squared costs]. */
function assemble(model: Module, set: EvalSet, found: BatchRadii[], chosen: Uint8Array, s: WOrder): { xAdv: Tensor[]; correct: Tensor; summary: Tensor } {
  let at = 0;
  const xAdv: Tensor[] = [];
  const out = noGrad(() => scope(() => {
    const rows = set.batches.map((b, i) => {
      const n = b.x.shape[0]!;
      const mask = tensor(Float32Array.from(chosen.subarray(at, at + n)), [n]);
      at += n;
      const x = keep(o.where(perExample(mask, b.x), found[i]!.adv, b.x));
      xAdv.push(x);
      return { correct: o.sub(1, misclassified(model.forward(x), b.y)), d2: o.square(normPerExample(o.sub(x, b.x), costNorm(s))) };
    });
    const correct = joinRows(rows.map((r) => r.correct));
    return { correct, summary: o.concat([o.reshape(o.sum(correct), [1]), o.reshape(o.sum(joinRows(rows.map((r) => r.d2))), [1])]) };
  }));
  xAdv.forEach(track);
  return { xAdv, ...out };
}

/** greedy-W on the whole evaluated set `data` (see the header). */
export async function greedyW(model: Module, data: EvalData, opts: GreedyWOptions): Promise<GreedyWResult> {
  const st = settings(opts);
  const set = evalSet('greedyW', data, st.batchSize);
  const found: BatchRadii[] = [];
  try {
    const both = withAttackMode(model, st.bnMode, () => {
      for (const b of set.batches) found.push(keep(bisect(model, b, st)));
      return scope(() => o.concat([joinRows(found.map((f) => f.radius)), joinRows(found.map((f) => f.cost))]));
    });
    let v: Float32Array;
    try {
      v = (await both.read()) as Float32Array;
    } finally {
      both.dispose();
    }
    const radii = v.slice(0, set.n);
    const costs = v.slice(set.n);
    const pick = chooseCheapest(costs, st.delta);
    const res = withAttackMode(model, st.bnMode, () => assemble(model, set, found, pick.chosen, st.s));
    let m: Float32Array;
    try {
      m = (await res.summary.read()) as Float32Array;
    } catch (e) {
      res.xAdv.forEach((t) => t.dispose());
      res.correct.dispose();
      throw e;
    } finally {
      res.summary.dispose();
    }
    return {
      accuracy: m[0]! / set.n, broken: pick.chosen.reduce((a, c) => a + c, 0), budgetSpent: Math.sqrt(m[1]! / set.n),
      radii, costs, chosen: pick.chosen, rMaxLimited: pick.limited, tolerance: st.rMax / 2 ** st.bisections, rMax: st.rMax, n: set.n,
      xAdv: res.xAdv, correct: res.correct,
    };
  } finally {
    found.forEach((f) => { f.radius.dispose(); f.cost.dispose(); f.adv.dispose(); });
    set.release();
  }
}
