/**
 * The geometry of a (W_p, l_r) threat (METHODS §4.1-4.3) as functions of one batch or of [N] vectors of
 * per-example norms: the steepest-ascent direction rule, its W_2 normaliser, the step, the per-image radii of a
 * perturbation, the contraction factor kappa, the projections, and Upsilon. W-PGD (wasserstein.ts) applies them
 * over a whole evaluated set, the reductions over all N images; a training step (W-TRADES) applies them to its
 * batch alone (`wStepBatch`), which gives every batch its own budget (a different, more constrained threat: §10.7).
 *
 * Conventions of the reference code: q is the conjugate of p (q = 1: p = inf, the pointwise threat; q = 2: p = 2),
 * s the conjugate of r (s = 1: l_inf cost; s = 2: l_2 cost). The 1e-8 guards are the reference's.
 *
 * The direction d_i = c_i sign(g_i) |g_i|^(s-1) is never stored: for s = 1 it is c_i sign(g_i), for s = 2 c_i g_i,
 * so a step is the fused PGD step with the per-example step size c_i times the global scale, and its length in
 * the cost norm follows from ||g_i||_s alone.
 */
import * as o from '../../engine/ops/index.js';
import { full } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { exampleAxes, normPerExample, perExample, project, type Norm } from './threat.js';

export type WOrder = 1 | 2;

export interface WThreat {
  /** 1: p = inf (every image within delta: pointwise); 2: p = 2 (the RMS of the per-image distances within delta). */
  q: WOrder;
  /** 1: l_inf transport cost; 2: l_2 cost. */
  s: WOrder;
  /** The W_p budget in [0, 1] pixel units. */
  delta: number;
}

/**
 * How W-PGD projects, beyond the threat itself:
 * - `l2Pointwise` (q = 1, s = 2): 'ball' is the true projection d min(1, delta/||d||), the fused L2 PGD step;
 *   'sphere' replicates the reference code, which always rescales to the sphere, even from inside (METHODS §4.3).
 *   Default 'ball'.
 * - `clampFirst` (q = 2): clamp the stepped set to [0, 1] before measuring the radii and contracting, so no budget
 *   goes to movement the clamp takes back and a binding W_2 budget holds with equality in the result (the
 *   contraction moves every pixel toward x, so it stays in [0, 1]). Default true; false is the reference's order
 *   (project, then clamp), where the clamp can leave the set inside the ball. For q = 1, s = 1 both orders give the
 *   same point; q = 1, s = 2 always projects first, as PGD.
 * - `cap` (q = 2): every image's radius is capped at this value before the contraction (the hybrid of METHODS
 *   §5.3/§5.6, which keeps single images from absorbing the budget).
 */
export interface WProjectionOptions {
  l2Pointwise?: 'ball' | 'sphere';
  clampFirst?: boolean;
  cap?: number;
}

export interface WProjection { l2Pointwise: 'ball' | 'sphere'; clampFirst: boolean; cap: number | undefined }

/** The reference code's guard against a zero norm (EPS in attacker.py). */
export const W_TINY = 1e-8;

const isOrder = (v: unknown): v is WOrder => v === 1 || v === 2;

/** Validates a W threat where it enters, naming the option, the expected and the received value. */
export function checkWThreat(what: string, t: { q?: unknown; s?: unknown; delta?: unknown }): WThreat {
  if (!isOrder(t.q)) throw new RangeError(`${what}: q must be 1 (p = inf, pointwise) or 2 (p = 2, distributional), got ${String(t.q)}`);
  if (!isOrder(t.s)) throw new RangeError(`${what}: s must be 1 (l_inf cost) or 2 (l_2 cost), got ${String(t.s)}`);
  const d = t.delta;
  if (typeof d !== 'number' || !Number.isFinite(d) || d < 0) throw new RangeError(`${what}: delta must be a finite number >= 0, got ${String(d)}`);
  if (t.s === 1 && t.q === 1 && d > 1) throw new RangeError(`${what}: a pointwise l_inf delta above 1 exceeds the [0, 1] pixel range, got ${d} (pixel units, not /255?)`);
  return { q: t.q, s: t.s, delta: d };
}

export function checkProjection(what: string, p: WProjectionOptions): WProjection {
  const l2 = p.l2Pointwise ?? 'ball';
  if (l2 !== 'ball' && l2 !== 'sphere') throw new RangeError(`${what}: l2Pointwise must be 'ball' or 'sphere', got ${JSON.stringify(l2)}`);
  if (p.cap !== undefined && !(typeof p.cap === 'number' && p.cap > 0)) throw new RangeError(`${what}: cap must be a number > 0, got ${String(p.cap)}`);
  return { l2Pointwise: l2, clampFirst: p.clampFirst ?? true, cap: p.cap };
}

/** The norm the transport cost measures a perturbation in: l_inf for s = 1, l_2 for s = 2. */
export const costNorm = (s: WOrder): Norm => (s === 1 ? 'linf' : 'l2');

/** ||g_i||_s per example, [N]: the dual of the cost norm (l_1 for s = 1, l_2 for s = 2), what Upsilon averages. */
export function dualNormPerExample(g: Tensor, s: WOrder): Tensor {
  return s === 1 ? o.sum(o.abs(g), exampleAxes(g)) : normPerExample(g, 'l2');
}

/** c_i = (||g_i||_s + 1e-8)^(q-s) from the dual norms [N]: d_i = c_i sign(g_i) |g_i|^(s-1) (attacker.py's adv_dir). */
export function directionCoefficient(gNorm: Tensor, q: WOrder, s: WOrder): Tensor {
  return noGrad(() => scope(() => (q === s ? o.onesLike(gNorm) : q > s ? o.add(gNorm, W_TINY) : o.reciprocal(o.add(gNorm, W_TINY)))));
}

/** ||d_i||_r, the direction's length in the cost norm: s = 1, c_i where g_i has a non-zero entry (else 0); s = 2, c_i ||g_i||_2. */
export function directionLength(gNorm: Tensor, c: Tensor, s: WOrder): Tensor {
  return noGrad(() => scope(() => (s === 1 ? o.mul(c, o.gt(gNorm, 0)) : o.mul(c, gNorm))));
}

/**
 * The steepest-ascent direction itself, materialised (tests, and callers that want it):
 *   d_i = sign(g_i) |g_i|^(s-1) (||g_i||_s + 1e-8)^(q-s)
 * s = 1: sign(g_i) ||g_i||_1^(q-1) (q = 1: FGSM's sign(g)); s = 2: g_i ||g_i||_2^(q-2) (q = 2: g itself).
 */
export function steepestAscent(g: Tensor, q: WOrder, s: WOrder): Tensor {
  return noGrad(() => scope(() => {
    const c = perExample(directionCoefficient(dualNormPerExample(g, s), q, s), g);
    return o.mul(s === 1 ? o.sign(g) : g, c);
  }));
}

/**
 * ( mean_i v_i^2 )^(1/2) for q = 2, max_i v_i for q = 1 (p = inf): the W_p size of per-example sizes v [N], as [];
 * of per-image radii, the W_p distance of the identity coupling (image i to its perturbed self).
 */
export function wAggregate(v: Tensor, q: WOrder): Tensor {
  return noGrad(() => scope(() => (q === 2 ? o.sqrt(o.mean(o.square(v))) : o.max(v))));
}

/**
 * 1 / (RMS_i ||d_i||_r + 1e-8) as []: the factor that gives the direction W_2 length 1 (q = 2; q = 1 normalises
 * nothing), from the direction lengths [N] of the whole set (W-PGD) or of one batch (training).
 */
export function directionScale(lengths: Tensor): Tensor {
  return noGrad(() => scope(() => o.reciprocal(o.add(wAggregate(lengths, 2), W_TINY))));
}

/**
 * cur + a_i sign(g_i) (s = 1) or cur + a_i g_i (s = 2), with per-example step sizes a [N] (a_i = alpha c_i times
 * the W_2 scale): with `radius` (a number, or [N], +inf for none) projected onto that ball around x and clamped to
 * [0, 1] in the same dispatch (the fused PGD step); without it, the raw step (the reference order projects first).
 * gNorm is ||g_i||_2 (s = 2 only: the fused L2 step normalises g itself).
 */
export function ascentStep(x: Tensor, cur: Tensor, g: Tensor, a: Tensor, s: WOrder, radius?: number | Tensor, gNorm?: Tensor): Tensor {
  return noGrad(() => scope(() => {
    if (radius === undefined) return o.add(cur, o.mul(s === 1 ? o.sign(g) : g, perExample(a, g)));
    if (s === 1) return o.pgdLinfStep(x, cur, g, { eps: radius, alpha: a });
    if (!gNorm) throw new Error('ascentStep: an s = 2 step with a radius needs gNorm (||g_i||_2)');
    return o.pgdL2Step(x, cur, g, { eps: radius, alpha: o.mul(a, gNorm) });
  }));
}

/** An [N] radius that is no ball: the fused steps read +inf as no bound (kernels/lib/per_example.wgsl). */
export const noBall = (like: Tensor): Tensor => full([like.shape[0]!], Infinity, { device: like.device });

/** ||xNew_i - x_i||_r per example [N] in the cost norm, each capped at `cap` when given. */
export function perturbationRadii(x: Tensor, xNew: Tensor, s: WOrder, cap?: number): Tensor {
  return noGrad(() => scope(() => {
    const m = normPerExample(o.sub(xNew, x), costNorm(s));
    return cap === undefined ? m : o.minimum(m, cap);
  }));
}

/** kappa = min(1, delta / (RMS(radii) + 1e-8)) as []: scaling every radius by it puts the set on the W_2 ball. */
export function contractionFactor(radii: Tensor, delta: number): Tensor {
  return noGrad(() => scope(() => o.minimum(o.div(delta, o.add(wAggregate(radii, 2), W_TINY)), 1)));
}

/**
 * The W_2 projection (q = 2) of one batch given the contraction factor kappa ([]) and the batch's (capped) radii,
 * then [0, 1]: each image's radius becomes kappa * radius (s = 1: its l_inf box shrinks to that,
 * clip(d, -kappa m_i, kappa m_i); s = 2: d is scaled to that length). The fused step with no step is that projection.
 */
export function projectContracted(x: Tensor, xNew: Tensor, s: WOrder, kappa: Tensor, radii: Tensor): Tensor {
  return noGrad(() => scope(() => project(x, xNew, costNorm(s), o.mul(radii, kappa))));
}

/** The reference's pointwise l_2 "projection": x + delta d/(||d|| + 1e-8), always on the sphere, then [0, 1]. */
export function projectSphere(x: Tensor, xNew: Tensor, delta: number): Tensor {
  return noGrad(() => scope(() => {
    const d = o.sub(xNew, x);
    return o.clamp(o.add(x, o.mul(d, perExample(o.div(delta, o.add(normPerExample(d, 'l2'), W_TINY)), d))), 0, 1);
  }));
}

export interface WStepOptions extends WThreat, WProjectionOptions {
  alpha: number;
  /**
   * The W_2 normaliser of the direction instead of the batch's own RMS direction length (e.g. a running Upsilon
   * during training, METHODS §5.3; for s = 1, q = 2 the batch's own is its Upsilon): a number or a [] tensor.
   * The projection enforces the budget either way.
   */
  normaliser?: number | Tensor;
}

/**
 * One W-PGD step of a batch treated as the whole set, from its input gradients g (per example, unaveraged):
 * the steepest-ascent direction normalised to W_2 length 1 over the batch (or by `normaliser`), a step of alpha,
 * then the batch's own W_p ball (each image's radius capped first when `cap` is set) and [0, 1]. What a W-TRADES
 * inner step takes; nothing is read back.
 */
export function wStepBatch(x: Tensor, cur: Tensor, g: Tensor, opts: WStepOptions): Tensor {
  const t = checkWThreat('wStepBatch', opts);
  const p = checkProjection('wStepBatch', opts);
  if (typeof opts.alpha !== 'number' || !Number.isFinite(opts.alpha)) throw new RangeError(`wStepBatch: alpha must be a finite number, got ${String(opts.alpha)}`);
  return noGrad(() => scope(() => {
    const gNorm = dualNormPerExample(g, t.s);
    const c = directionCoefficient(gNorm, t.q, t.s);
    if (t.q === 1) {
      const a = o.mul(c, opts.alpha);
      return t.s === 2 && p.l2Pointwise === 'sphere' ? projectSphere(x, ascentStep(x, cur, g, a, 2), t.delta) : ascentStep(x, cur, g, a, t.s, t.delta, gNorm);
    }
    const n = opts.normaliser;
    const scale = n === undefined ? directionScale(directionLength(gNorm, c, t.s)) : typeof n === 'number' ? 1 / (n + W_TINY) : o.reciprocal(o.add(n, W_TINY));
    const a = o.mul(o.mul(c, scale), opts.alpha);
    const stepped = p.clampFirst ? ascentStep(x, cur, g, a, t.s, noBall(x), gNorm) : ascentStep(x, cur, g, a, t.s);
    return contractBatch(x, stepped, t.s, t.delta, p.cap);
  }));
}

/** The W_2 projection of one batch treated as the whole set: radii (capped), kappa, contraction, [0, 1]. */
function contractBatch(x: Tensor, xNew: Tensor, s: WOrder, delta: number, cap: number | undefined): Tensor {
  return noGrad(() => scope(() => {
    const radii = perturbationRadii(x, xNew, s, cap);
    return projectContracted(x, xNew, s, contractionFactor(radii, delta), radii);
  }));
}

/**
 * The projection of one batch treated as the whole set onto its W_p ball, then [0, 1] (q = 1: every image onto
 * its delta-ball; q = 2: the contraction, after the cap and, with `clampFirst`, the clamp).
 */
export function wProjectBatch(x: Tensor, xNew: Tensor, t: WThreat, opts: WProjectionOptions = {}): Tensor {
  const { q, s, delta } = checkWThreat('wProjectBatch', t);
  const p = checkProjection('wProjectBatch', opts);
  return noGrad(() => scope(() => {
    if (q === 1) return s === 2 && p.l2Pointwise === 'sphere' ? projectSphere(x, xNew, delta) : project(x, xNew, costNorm(s), delta);
    return contractBatch(x, p.clampFirst ? o.clamp(xNew, 0, 1) : xNew, s, delta, p.cap);
  }));
}

/** (mean_i ||g_i||_s^q)^(1/q) from per-example dual norms [N] (`dualNormPerExample`), as []. */
export function upsilonOf(dualNorms: Tensor, q: WOrder): Tensor {
  return noGrad(() => scope(() => (q === 1 ? o.mean(dualNorms) : o.sqrt(o.mean(o.square(dualNorms))))));
}

/** Upsilon of one batch's input gradients g (per example, unaveraged), as []: the per-batch estimate of training. */
export function batchUpsilon(g: Tensor, q: WOrder, s: WOrder): Tensor {
  return noGrad(() => scope(() => upsilonOf(dualNormPerExample(g, s), q)));
}
