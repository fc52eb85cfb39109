/**
 * Threat-model bookkeeping (METHODS.md §1.4): inputs live in [0, 1] pixel space (normalisation belongs to
 * the model), perturbations in an L-inf or L2 ball of radius eps around each example. Start points,
 * the exact projection onto ball ∩ [0, 1], per-example norms, and the budget check every attack's output
 * goes through: a cheap GPU reduction that is reported, never a silent clip after the fact.
 */
import * as o from '../../engine/ops/index.js';
import { rand, randn, type Generator } from '../../engine/rng.js';
import { scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmt } from '../../engine/shape.js';

export type Norm = 'linf' | 'l2';
export const NORMS: readonly Norm[] = ['linf', 'l2'];

export interface ThreatModel {
  norm: Norm;
  /** Radius in [0, 1] pixel units (L-inf: at most 1; L2: any finite value >= 0). */
  eps: number;
}

/** Validates a threat model where it enters, naming the option, the expected and the received value. */
export function checkThreat(what: string, t: { norm?: unknown; eps?: unknown }): ThreatModel {
  const norm = t.norm ?? 'linf';
  if (!NORMS.includes(norm as Norm)) throw new RangeError(`${what}: norm must be one of ${NORMS.join(', ')}, got ${JSON.stringify(norm)}`);
  const eps = t.eps;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new RangeError(`${what}: eps must be a finite number >= 0, got ${String(eps)}`);
  if (norm === 'linf' && eps > 1) throw new RangeError(`${what}: an L-inf eps above 1 is larger than the whole [0, 1] pixel range, got ${eps} (pixel units, not /255?)`);
  return { norm: norm as Norm, eps };
}

/** Axes of one example (every dim but the batch). */
export const exampleAxes = (x: Tensor): number[] => [...x.shape.keys()].slice(1);

/** [N] -> [N, 1, ..., 1], to broadcast a per-example value over its example. */
export function perExample(v: Tensor, like: Tensor): Tensor {
  return o.reshape(v, [like.shape[0]!, ...like.shape.slice(1).map(() => 1)]);
}

/** The per-example L-inf or L2 norm of d [N, ...], as [N]. */
export function normPerExample(d: Tensor, norm: Norm): Tensor {
  const axes = exampleAxes(d);
  return norm === 'linf' ? o.max(o.abs(d), axes) : o.sqrt(o.sum(o.square(d), axes));
}

/**
 * d / (||d|| + 1e-12) per example (AutoAttack's normalize): unit L-inf or L2 norm, 0 stays 0.
 */
export function normalizePerExample(d: Tensor, norm: Norm): Tensor {
  return o.div(d, perExample(o.add(normPerExample(d, norm), 1e-12), d));
}

/**
 * Where an attack starts, clamped to [0, 1]:
 * - 'uniform': L-inf, x + U(-eps, eps) per pixel (Madry); L2, x + eps n/||n||, n ~ N(0, I) (MadryLab);
 * - 'apgd': AutoAttack's APGD start, x + eps t/||t|| (L-inf: t ~ U(-1, 1); L2: t ~ N(0, I));
 * - 'normal': x + 0.001 N(0, I) (TRADES); 'none': x itself (a copy).
 */
export type StartKind = 'uniform' | 'apgd' | 'normal' | 'none';

export function startPoint(x: Tensor, t: ThreatModel, kind: StartKind, generator: Generator): Tensor {
  return noGrad(() => scope(() => {
    const opts = { device: x.device, generator };
    if (kind === 'none') return o.clone(x);
    if (kind === 'normal') return o.clamp(o.add(x, o.mul(randn(x.shape, opts), 0.001)), 0, 1);
    if (t.norm === 'l2' || kind === 'apgd') {
      const noise = t.norm === 'linf' ? rand(x.shape, { ...opts, low: -1, high: 1 }) : randn(x.shape, opts);
      return o.clamp(o.add(x, o.mul(normalizePerExample(noise, t.norm), t.eps)), 0, 1);
    }
    return o.clamp(o.add(x, o.mul(rand(x.shape, { ...opts, low: -1, high: 1 }), t.eps)), 0, 1);
  }));
}

/**
 * The projection onto the eps-ball around x intersected with [0, 1] (METHODS §10.8 order: ball, then the box):
 * the fused PGD step with a zero step size, which is exactly that projection. eps may be per example ([N]).
 */
export function project(x: Tensor, xAdv: Tensor, norm: Norm, eps: number | Tensor): Tensor {
  return noGrad(() => (norm === 'linf'
    ? o.pgdLinfStep(x, xAdv, xAdv, { eps, alpha: 0 })
    : o.pgdL2Step(x, xAdv, xAdv, { eps, alpha: 0 })));
}

/**
 * How far an adversarial batch is outside its budget, as a float32 [2] tensor (read it with the results):
 * [max over examples of ||xAdv_i - x_i|| - eps_i, max over pixels of the distance outside [0, 1]].
 * Both are <= 0 for a valid batch (up to float32 rounding of x +- eps: see BUDGET_SLACK).
 */
export function budgetExcess(x: Tensor, xAdv: Tensor, norm: Norm, eps: number | Tensor): Tensor {
  if (xAdv.shape.join() !== x.shape.join()) throw new RangeError(`budget check: xAdv has shape ${fmt(xAdv.shape)}, x ${fmt(x.shape)}`);
  return noGrad(() => scope(() => {
    const over = o.sub(normPerExample(o.sub(xAdv, x), norm), eps);
    const outside = o.maximum(o.neg(xAdv), o.sub(xAdv, 1));
    return o.concat([o.reshape(o.max(over), [1]), o.reshape(o.max(outside), [1])]);
  }));
}

/** Float32 rounding of x +- eps (and of an L2 norm) can leave a pixel this far past eps; more is a bug. */
export const BUDGET_SLACK = 1e-5;

export interface BudgetReport { maxExcess: number; maxOutside: number; ok: boolean }

export function budgetReport(excess: ArrayLike<number>, eps: number): BudgetReport {
  const [maxExcess, maxOutside] = [excess[0]!, excess[1]!];
  return { maxExcess, maxOutside, ok: maxExcess <= BUDGET_SLACK * Math.max(1, eps) && maxOutside <= 0 };
}
