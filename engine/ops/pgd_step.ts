/**
 * The fused PGD steps, one dispatch over the whole batch each (REFERENCE_CASES.md `pgd_linf_step`,
 * `pgd_l2_step`; METHODS.md §1.2 and §10.8 for the order: step, then the eps-ball, then [0, 1]).
 * Forward only: attacks differentiate the loss with respect to x_adv, never through the update.
 *
 * pgd_linf_step is audited with tolerance 0: its float64 reference evaluates the formula with a float32
 * rounding (Math.fround) after every operation, which is exactly what the kernel computes, so any difference
 * is a bug. pgd_l2_step sums squares in a different order than any CPU loop and divides with WGSL's 2.5-ULP
 * division, so it is audited with the default tolerance against a plain float64 reference.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { CpuRandom } from '../ref/random.js';
import { fmt, sameShape, sizeOf, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runPgdLinfStep, runPgdL2Step } from '../../kernels/pgd_step.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

export interface PgdLinfStepOptions {
  /** Radius of the L-inf ball around x. */
  eps: number;
  /** Step size; alpha > eps is allowed (the projection catches it). */
  alpha: number;
}

export interface PgdL2StepOptions {
  /** Radius of the L2 ball around each example of x. */
  eps: number;
  alpha: number;
  /** Lower bound of both norms, so a zero gradient or x_adv = x divides by it instead of 0 (default 1e-12). */
  normFloor?: number;
}

function checkArgs(what: string, [x, xAdv, g]: Tensor[], eps: number, alpha: number, minRank: number): void {
  for (const [name, t] of [['xAdv', xAdv], ['grad', g]] as const) {
    if (!sameShape(t!.shape, x!.shape)) throw new RangeError(`${what}: ${name} has shape ${fmt(t!.shape)}, expected x's shape ${fmt(x!.shape)}`);
  }
  if (x!.rank < minRank) throw new RangeError(`${what}: x needs a batch dimension (rank >= ${minRank}), got shape ${fmt(x!.shape)}`);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new RangeError(`${what}: eps must be a finite number >= 0, got ${eps}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new RangeError(`${what}: alpha must be a finite number, got ${alpha}`);
}

const f32 = Math.fround;

/** The L-inf step in float32 arithmetic, one rounding per operation as in the kernel. */
function refLinf([x, xAdv, g]: RefTensor[], a: PgdLinfStepOptions): RefTensor {
  const eps = f32(a.eps);
  const alpha = f32(a.alpha);
  const out = ref(x!.shape);
  for (let i = 0; i < out.data.length; i++) {
    const gi = g!.data[i]!;
    const s = gi > 0 ? 1 : gi < 0 ? -1 : 0;
    const stepped = f32(xAdv!.data[i]! + alpha * s);
    const boxed = Math.min(Math.max(stepped, f32(x!.data[i]! - eps)), f32(x!.data[i]! + eps));
    out.data[i] = Math.min(Math.max(boxed, 0), 1);
  }
  return out;
}

/** The L2 step in float64, per example over all non-batch dims. */
function refL2([x, xAdv, g]: RefTensor[], a: PgdL2StepOptions): RefTensor {
  const floor = a.normFloor ?? 1e-12;
  const n = x!.shape[0]!;
  const f = n === 0 ? 0 : x!.data.length / n;
  const out = ref(x!.shape);
  for (let b = 0; b < n; b++) {
    const o = b * f;
    let gg = 0;
    for (let k = 0; k < f; k++) gg += g!.data[o + k]! ** 2;
    const gn = Math.max(Math.sqrt(gg), floor);
    const d = Array.from({ length: f }, (_, k) => xAdv!.data[o + k]! + (a.alpha * g!.data[o + k]!) / gn - x!.data[o + k]!);
    const dn = Math.max(Math.sqrt(d.reduce((s, v) => s + v * v, 0)), floor);
    const factor = Math.min(1, a.eps / dn);
    for (let k = 0; k < f; k++) out.data[o + k] = Math.min(Math.max(x!.data[o + k]! + d[k]! * factor, 0), 1);
  }
  return out;
}

// ---- audit inputs: images in [0, 1] with their edges, iterates on and off the boundary, zero gradients ----

/** Pixels: exact 0 and 1, values within 1e-3 of them, and the rest uniform. */
function drawImage(rng: CpuRandom, n: number): number[] {
  return Array.from({ length: n }, () => {
    const u = rng.next();
    if (u < 0.15) return 0;
    if (u < 0.3) return 1;
    if (u < 0.4) return f32(rng.uniform(0, 1e-3));
    if (u < 0.5) return f32(1 - rng.uniform(0, 1e-3));
    return f32(rng.next());
  });
}

/** Gradients: normal, with a third exact zeros (and some -0); rows listed in `zeroRows` entirely zero. */
function drawGrad(rng: CpuRandom, shape: Shape, zeroRows: number[] = []): number[] {
  const n = sizeOf(shape);
  const f = n / shape[0]!;
  return Array.from({ length: n }, (_, i) => {
    if (zeroRows.includes(Math.floor(i / f))) return 0;
    const u = rng.next();
    return u < 0.3 ? 0 : u < 0.35 ? -0 : f32(rng.normal());
  });
}

/** L-inf iterates: a quarter exactly on each face of the box (x +- eps in float32), some at x, some outside. */
function drawLinfAdv(rng: CpuRandom, x: number[], eps: number): number[] {
  const e = f32(eps);
  return x.map((v) => {
    const u = rng.next();
    if (u < 0.25) return f32(v + e);
    if (u < 0.5) return f32(v - e);
    if (u < 0.6) return v;
    if (u < 0.7) return f32(v + (rng.next() < 0.5 ? -1.5 : 1.5) * e);
    return f32(v + rng.uniform(-e, e));
  });
}

/** L2 iterates: example b sits at distance radii[b] * eps from x (1 = on the sphere, 0 = at x, > 1 outside). */
function drawL2Adv(rng: CpuRandom, x: number[], batch: number, eps: number, radii: number[]): number[] {
  const f = x.length / batch;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    const dir = Array.from({ length: f }, () => rng.normal());
    const norm = Math.sqrt(dir.reduce((s, v) => s + v * v, 0)) || 1;
    const r = radii[b % radii.length]! * eps;
    for (let k = 0; k < f; k++) out.push(f32(x[b * f + k]! + (r * dir[k]!) / norm));
  }
  return out;
}

function linfCase(name: string, shape: Shape, a: PgdLinfStepOptions, seed: number, zeroRows: number[] = []): AuditCase<PgdLinfStepOptions> {
  const rng = new CpuRandom(seed);
  const x = drawImage(rng, sizeOf(shape));
  return { name, shapes: [shape, shape, shape], attrs: a, values: [x, drawLinfAdv(rng, x, a.eps), drawGrad(rng, shape, zeroRows)] };
}

function l2Case(name: string, shape: Shape, a: PgdL2StepOptions, seed: number, radii: number[], zeroRows: number[] = []): AuditCase<PgdL2StepOptions> {
  const rng = new CpuRandom(seed);
  const x = drawImage(rng, sizeOf(shape));
  return { name, shapes: [shape, shape, shape], attrs: a, values: [x, drawL2Adv(rng, x, shape[0]!, a.eps, radii), drawGrad(rng, shape, zeroRows)] };
}

const pgdLinfStepOp = defineOp<PgdLinfStepOptions>({
  name: 'pgd_linf_step',
  forward: (inputs, a) => {
    checkArgs('pgdLinfStep', inputs, a.eps, a.alpha, 0);
    const [x, xAdv, g] = inputs as [Tensor, Tensor, Tensor];
    const y = empty(x.device, x.shape);
    runPgdLinfStep(x.device, { x: x.storage.binding(), xAdv: xAdv.storage.binding(), grad: g.storage.binding(), y: y.storage.binding() }, y.size, a.eps, a.alpha);
    return y;
  },
  reference: { forward: refLinf },
  // Bit-exact: see the header.
  tolerance: { atol: 0, rtol: 0 },
  audit: [
    linfCase('pgd_linf_step [4,3,5,5] eps 8/255 alpha 2/255', [4, 3, 5, 5], { eps: 8 / 255, alpha: 2 / 255 }, 1),
    linfCase('pgd_linf_step alpha > eps [3,7]', [3, 7], { eps: 0.1, alpha: 0.25 }, 2),
    linfCase('pgd_linf_step batch 1 [1,13]', [1, 13], { eps: 0.3, alpha: 0.01 }, 3),
    linfCase('pgd_linf_step eps 0 [2,9]', [2, 9], { eps: 0, alpha: 0.05 }, 4),
    linfCase('pgd_linf_step zero gradients [3,1,3,3]', [3, 1, 3, 3], { eps: 0.1, alpha: 0.02 }, 5, [0, 1, 2]),
    linfCase('pgd_linf_step [300,3] (several workgroups)', [300, 3], { eps: 0.05, alpha: 0.0125 }, 6),
    linfCase('pgd_linf_step rank 1 [5]', [5], { eps: 0.2, alpha: 0.3 }, 7),
  ],
});

const pgdL2StepOp = defineOp<PgdL2StepOptions>({
  name: 'pgd_l2_step',
  forward: (inputs, a) => {
    const floor = a.normFloor ?? 1e-12;
    checkArgs('pgdL2Step', inputs, a.eps, a.alpha, 1);
    if (typeof floor !== 'number' || !(floor > 0) || !Number.isFinite(floor)) throw new RangeError(`pgdL2Step: normFloor must be a finite number > 0, got ${floor}`);
    const [x, xAdv, g] = inputs as [Tensor, Tensor, Tensor];
    const y = empty(x.device, x.shape);
    const batch = x.shape[0]!;
    runPgdL2Step(x.device, { x: x.storage.binding(), xAdv: xAdv.storage.binding(), grad: g.storage.binding(), y: y.storage.binding() },
      batch, batch === 0 ? 0 : x.size / batch, a.eps, a.alpha, floor);
    return y;
  },
  reference: { forward: refL2 },
  audit: [
    // Examples on the sphere, inside, at x itself (d = 0 before the step) and outside; example 1 has a zero gradient.
    l2Case('pgd_l2_step [4,3,5,5] eps 0.5 alpha 0.1', [4, 3, 5, 5], { eps: 0.5, alpha: 0.1 }, 11, [1, 0.5, 0, 1.3], [1]),
    l2Case('pgd_l2_step alpha > eps [3,7]', [3, 7], { eps: 0.1, alpha: 1 }, 12, [1, 0.2, 0]),
    l2Case('pgd_l2_step batch 1 [1,13]', [1, 13], { eps: 1, alpha: 0.2 }, 13, [1]),
    l2Case('pgd_l2_step zero gradient at x [2,5]', [2, 5], { eps: 0.3, alpha: 0.1 }, 14, [0, 1], [0, 1]),
    l2Case('pgd_l2_step eps 0 [2,9]', [2, 9], { eps: 0, alpha: 0.05 }, 15, [0]),
    l2Case('pgd_l2_step features > workgroup [3,700]', [3, 700], { eps: 2, alpha: 0.5 }, 16, [1, 0.7, 1.1]),
    l2Case('pgd_l2_step one feature [5,1]', [5, 1], { eps: 0.05, alpha: 0.02, normFloor: 1e-6 }, 17, [1, 0, 0.5, 2, 1]),
  ],
});

/** One L-inf PGD step: clamp(min(max(xAdv + alpha sign(grad), x - eps), x + eps), 0, 1), sign(0) = 0. */
export function pgdLinfStep(x: Tensor, xAdv: Tensor, grad: Tensor, opts: PgdLinfStepOptions): Tensor {
  return pgdLinfStepOp([x, xAdv, grad], { eps: opts.eps, alpha: opts.alpha });
}

/**
 * One L2 PGD step per example (dim 0 is the batch): xAdv + alpha grad/||grad||, projected onto the eps-ball
 * around x (d * min(1, eps/||d||)), clamped to [0, 1].
 */
export function pgdL2Step(x: Tensor, xAdv: Tensor, grad: Tensor, opts: PgdL2StepOptions): Tensor {
  return pgdL2StepOp([x, xAdv, grad], { eps: opts.eps, alpha: opts.alpha, normFloor: opts.normFloor ?? 1e-12 });
}

registerCaseAdapter('pgd_linf_step', (x, p) => ({ x_adv_new: pgdLinfStep(x.x!, x.x_adv!, x.grad!, { eps: param.num(p, 'eps'), alpha: param.num(p, 'alpha') }) }), { inputs: ['x', 'x_adv', 'grad'] });
registerCaseAdapter('pgd_l2_step', (x, p) => ({
  x_adv_new: pgdL2Step(x.x!, x.x_adv!, x.grad!, { eps: param.num(p, 'eps'), alpha: param.num(p, 'alpha'), normFloor: param.optNum(p, 'norm_floor') ?? 1e-12 }),
}), { inputs: ['x', 'x_adv', 'grad'] });
