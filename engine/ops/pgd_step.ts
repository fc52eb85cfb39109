/**
 * The fused PGD steps, one dispatch over the whole batch each (REFERENCE_CASES.md `pgd_linf_step`,
 * `pgd_l2_step`; METHODS.md §1.2 and §10.8 for the order: step, then the eps-ball, then [0, 1]).
 * Forward only: attacks differentiate the loss with respect to x_adv, never through the update.
 *
 * eps and alpha are each a number for the whole batch or a float32 tensor of shape [N] (N = x.shape[0]) read
 * per example in the kernel (APGD halves its step per example; W-PGD gives every image its own radius). A
 * scalar is checked here (finite, eps >= 0); per-example values live on the GPU and cannot be checked without
 * a readback, so they are the caller's responsibility, and the kernels read them as a scalar the check would
 * accept (kernels/lib/per_example.wgsl): an eps that is NaN or < 0 as 0 (the example is held at x, clamped to
 * [0, 1]), +inf as the largest float32 (no ball), an alpha that is NaN or +-inf as 0 (no step). No NaN gets
 * into the iterate from them. With all entries equal the result is bit-identical to the scalar form.
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
import { runPgdLinfStep, runPgdL2Step, type PerExample } from '../../kernels/pgd_step.js';
import { registerCaseAdapter, param, type CaseInputs, type CaseParams } from '../case_adapters.js';

export interface PgdLinfStepOptions {
  /** Radius of the L-inf ball around x: one for the batch, or a float32 [N] tensor of one per example. */
  eps: number | Tensor;
  /** Step size (a number or a float32 [N] tensor); alpha > eps is allowed (the projection catches it). */
  alpha: number | Tensor;
}

export interface PgdL2StepOptions {
  /** Radius of the L2 ball around each example of x: a number, or a float32 [N] tensor of one per example. */
  eps: number | Tensor;
  alpha: number | Tensor;
  /** Lower bound of both norms, so a zero gradient or x_adv = x divides by it instead of 0 (default 1e-12). */
  normFloor?: number;
}

/**
 * The ops' attrs: a scalar, or 'per-example' for a value read from a tensor input. Inputs are
 * [x, x_adv, grad], then the eps tensor if eps is per-example, then the alpha tensor if alpha is.
 */
type Slot = number | 'per-example';
interface StepAttrs { eps: Slot; alpha: Slot }
interface L2Attrs extends StepAttrs { normFloor: number }

/** The rows of x: its first dim (1 for a rank-0 x, which cannot take per-example values). */
function batchOf(shape: Shape): number {
  return shape.length ? shape[0]! : 1;
}

function checkArgs(what: string, inputs: Tensor[], a: StepAttrs, minRank: number): void {
  const [x, xAdv, g] = inputs as [Tensor, Tensor, Tensor];
  for (const [name, t] of [['xAdv', xAdv], ['grad', g]] as const) {
    if (!sameShape(t.shape, x.shape)) throw new RangeError(`${what}: ${name} has shape ${fmt(t.shape)}, expected x's shape ${fmt(x.shape)}`);
  }
  const perExample = (['eps', 'alpha'] as const).filter((k) => a[k] === 'per-example');
  if (x.rank < Math.max(minRank, perExample.length ? 1 : 0)) {
    throw new RangeError(`${what}: x needs a batch dimension (rank >= 1)${perExample.length ? ` for a per-example ${perExample.join(' and ')}` : ''}, got shape ${fmt(x.shape)}`);
  }
  if (inputs.length !== 3 + perExample.length) throw new Error(`${what}: expected ${3 + perExample.length} inputs (x, xAdv, grad${perExample.map((k) => `, ${k}`).join('')}), got ${inputs.length}`);
  perExample.forEach((k, i) => {
    const t = inputs[3 + i]!;
    if (t.rank !== 1 || t.shape[0] !== x.shape[0]) throw new RangeError(`${what}: a per-example ${k} must have shape [${x.shape[0]}] (x's batch), got ${fmt(t.shape)}`);
  });
  if (typeof a.eps === 'number' && !(Number.isFinite(a.eps) && a.eps >= 0)) throw new RangeError(`${what}: eps must be a finite number >= 0, got ${a.eps}`);
  if (typeof a.alpha === 'number' && !Number.isFinite(a.alpha)) throw new RangeError(`${what}: alpha must be a finite number, got ${a.alpha}`);
}

/** The public options as the op's inputs and attrs; a per-example value must be a float32 tensor. */
function stepInputs(what: string, xs: [Tensor, Tensor, Tensor], opts: { eps: number | Tensor; alpha: number | Tensor }): [Tensor[], StepAttrs] {
  const inputs: Tensor[] = [...xs];
  const slot = (k: 'eps' | 'alpha'): Slot => {
    const v = opts[k];
    if (typeof v === 'number') return v;
    if (v.dtype !== 'float32') throw new TypeError(`${what}: a per-example ${k} must be a float32 tensor, got ${v.dtype} (tensor #${v.id})`);
    inputs.push(v);
    return 'per-example';
  };
  const eps = slot('eps');
  return [inputs, { eps, alpha: slot('alpha') }];
}

/** eps and alpha as the kernel wrappers take them: numbers, or the bindings of the per-example tensors. */
function kernelValues(inputs: Tensor[], a: StepAttrs): [PerExample, PerExample] {
  let next = 3;
  const value = (s: Slot): PerExample => (s === 'per-example' ? inputs[next++]!.storage.binding() : s);
  const eps = value(a.eps);
  return [eps, value(a.alpha)];
}

const F32_MAX = 3.4028234663852886e38;
const f32 = Math.fround;

/** Per-example eps and alpha as the kernels read them (kernels/lib/per_example.wgsl); scalars rounded to float32. */
function rowValues(inputs: RefTensor[], a: StepAttrs): { eps: (b: number) => number; alpha: (b: number) => number } {
  let next = 3;
  const rows = (s: Slot, read: (v: number) => number): ((b: number) => number) => {
    if (s !== 'per-example') { const v = f32(s); return () => v; }
    const t = inputs[next++]!;
    return (b) => read(t.data[b]!);
  };
  const eps = rows(a.eps, (v) => (v === Infinity ? F32_MAX : v > 0 ? v : 0));
  return { eps, alpha: rows(a.alpha, (v) => (Number.isFinite(v) ? v : 0)) };
}

/** The L-inf step in float32 arithmetic, one rounding per operation as in the kernel. */
function refLinf(inputs: RefTensor[], a: StepAttrs): RefTensor {
  const [x, xAdv, g] = inputs as [RefTensor, RefTensor, RefTensor];
  const v = rowValues(inputs, a);
  const n = batchOf(x.shape);
  const f = n === 0 ? 0 : x.data.length / n;
  const out = ref(x.shape);
  for (let i = 0; i < out.data.length; i++) {
    const eps = v.eps(Math.floor(i / f));
    const alpha = v.alpha(Math.floor(i / f));
    const gi = g.data[i]!;
    const s = gi > 0 ? 1 : gi < 0 ? -1 : 0;
    const stepped = f32(xAdv.data[i]! + alpha * s);
    const boxed = Math.min(Math.max(stepped, f32(x.data[i]! - eps)), f32(x.data[i]! + eps));
    out.data[i] = Math.min(Math.max(boxed, 0), 1);
  }
  return out;
}

/** The L2 step in float64, per example over all non-batch dims. */
function refL2(inputs: RefTensor[], a: L2Attrs): RefTensor {
  const [x, xAdv, g] = inputs as [RefTensor, RefTensor, RefTensor];
  const v = rowValues(inputs, a);
  const floor = a.normFloor;
  const n = x.shape[0]!;
  const f = n === 0 ? 0 : x.data.length / n;
  const out = ref(x.shape);
  for (let b = 0; b < n; b++) {
    const o = b * f;
    const [eps, alpha] = [v.eps(b), v.alpha(b)];
    let gg = 0;
    for (let k = 0; k < f; k++) gg += g.data[o + k]! ** 2;
    const gn = Math.max(Math.sqrt(gg), floor);
    const d = Array.from({ length: f }, (_, k) => xAdv.data[o + k]! + (alpha * g.data[o + k]!) / gn - x.data[o + k]!);
    const dn = Math.max(Math.sqrt(d.reduce((s, u) => s + u * u, 0)), floor);
    const factor = Math.min(1, eps / dn);
    for (let k = 0; k < f; k++) out.data[o + k] = Math.min(Math.max(x.data[o + k]! + d[k]! * factor, 0), 1);
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
  const f = n / batchOf(shape);
  return Array.from({ length: n }, (_, i) => {
    if (zeroRows.includes(Math.floor(i / f))) return 0;
    const u = rng.next();
    return u < 0.3 ? 0 : u < 0.35 ? -0 : f32(rng.normal());
  });
}

/**
 * L-inf iterates around x, example b in a box of radius radii[b]: a quarter exactly on each face (x +- eps in
 * float32), some at x, some outside.
 */
function drawLinfAdv(rng: CpuRandom, x: number[], radii: number[]): number[] {
  const f = x.length / radii.length;
  return x.map((v, i) => {
    const e = f32(radii[Math.floor(i / f)]!);
    const u = rng.next();
    if (u < 0.25) return f32(v + e);
    if (u < 0.5) return f32(v - e);
    if (u < 0.6) return v;
    if (u < 0.7) return f32(v + (rng.next() < 0.5 ? -1.5 : 1.5) * e);
    return f32(v + rng.uniform(-e, e));
  });
}

/** L2 iterates: example b sits at distance radii[b] * eps[b] from x (1 = on the sphere, 0 = at x, > 1 outside). */
function drawL2Adv(rng: CpuRandom, x: number[], eps: number[], radii: number[]): number[] {
  const batch = eps.length;
  const f = x.length / batch;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    const dir = Array.from({ length: f }, () => rng.normal());
    const norm = Math.sqrt(dir.reduce((s, v) => s + v * v, 0)) || 1;
    const r = radii[b % radii.length]! * eps[b]!;
    for (let k = 0; k < f; k++) out.push(f32(x[b * f + k]! + (r * dir[k]!) / norm));
  }
  return out;
}

/** eps and alpha of an audit case: numbers, or lists of one per example (inputs 3 and 4, in that order). */
interface CaseValues { eps: number | number[]; alpha: number | number[] }

/** A case's attrs, its per-example shapes and values, and the radius of each example to draw iterates in. */
function caseSlots(shape: Shape, c: CaseValues, drawRadii?: number[]) {
  const n = batchOf(shape);
  const shapes: Shape[] = [shape, shape, shape];
  const rows: number[][] = [];
  const slot = (v: number | number[]): Slot => {
    if (typeof v === 'number') return v;
    if (v.length !== n) throw new Error(`pgd audit case: ${v.length} per-example values for a batch of ${n}`);
    shapes.push([n]);
    rows.push(v);
    return 'per-example';
  };
  const attrs = { eps: slot(c.eps), alpha: slot(c.alpha) };
  const radii = drawRadii ?? (typeof c.eps === 'number' ? new Array<number>(n).fill(c.eps) : c.eps);
  return { attrs, shapes, rows, radii };
}

function linfCase(name: string, shape: Shape, c: CaseValues, seed: number, zeroRows: number[] = [], drawRadii?: number[]): AuditCase<StepAttrs> {
  const rng = new CpuRandom(seed);
  const { attrs, shapes, rows, radii } = caseSlots(shape, c, drawRadii);
  const x = drawImage(rng, sizeOf(shape));
  return { name, shapes, attrs, values: [x, drawLinfAdv(rng, x, radii), drawGrad(rng, shape, zeroRows), ...rows] };
}

function l2Case(name: string, shape: Shape, c: CaseValues & { normFloor?: number }, seed: number, radii: number[], zeroRows: number[] = [], drawEps?: number[]): AuditCase<L2Attrs> {
  const rng = new CpuRandom(seed);
  const s = caseSlots(shape, c, drawEps);
  const x = drawImage(rng, sizeOf(shape));
  return { name, shapes: s.shapes, attrs: { ...s.attrs, normFloor: c.normFloor ?? 1e-12 }, values: [x, drawL2Adv(rng, x, s.radii, radii), drawGrad(rng, shape, zeroRows), ...s.rows] };
}

function outputLike(x: Tensor): [Tensor, number, number] {
  const y = empty(x.device, x.shape);
  const n = batchOf(x.shape);
  return [y, n, n === 0 ? 0 : x.size / n];
}

const pgdLinfStepOp = defineOp<StepAttrs>({
  name: 'pgd_linf_step',
  forward: (inputs, a) => {
    checkArgs('pgdLinfStep', inputs, a, 0);
    const [x, xAdv, g] = inputs as [Tensor, Tensor, Tensor];
    const [y, , features] = outputLike(x);
    const [eps, alpha] = kernelValues(inputs, a);
    runPgdLinfStep(x.device, { x: x.storage.binding(), xAdv: xAdv.storage.binding(), grad: g.storage.binding(), y: y.storage.binding() }, y.size, features, eps, alpha);
    return y;
  },
  reference: { forward: refLinf },
  // The per-example eps and alpha are data, like labels (and the op is forward only: nothing here gets a gradient).
  nondiff: [3, 4],
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
    // Per example: a row with eps 0, rows with alpha > eps, a zero-gradient row (2), mixed radii.
    linfCase('pgd_linf_step per-example eps and alpha [4,3,5,5]', [4, 3, 5, 5], { eps: [8 / 255, 0, 0.1, 4 / 255], alpha: [2 / 255, 0.05, 0.3, 1 / 255] }, 8, [2]),
    linfCase('pgd_linf_step per-example eps, scalar alpha [5,7]', [5, 7], { eps: [0.3, 0.01, 0, 0.05, 0.2], alpha: 0.02 }, 9, [3]),
    linfCase('pgd_linf_step scalar eps, per-example alpha [3,1,3,3]', [3, 1, 3, 3], { eps: 0.1, alpha: [0, 0.02, 0.5] }, 10),
    linfCase('pgd_linf_step per-example [300,3] (several workgroups)', [300, 3], { eps: Array.from({ length: 300 }, (_, b) => (b % 7) / 100), alpha: Array.from({ length: 300 }, (_, b) => (b % 5) / 80) }, 11),
    linfCase('pgd_linf_step per-example rank 1 [5]', [5], { eps: [0.2, 0, 0.5, 0.1, 1], alpha: [0.3, 0.1, 0.01, -0.05, 0] }, 12),
    // Values the CPU cannot refuse: eps NaN, < 0, -0 read as 0, +inf as no box; alpha NaN and +-inf as 0.
    linfCase('pgd_linf_step per-example NaN, inf, negative [6,4]', [6, 4], { eps: [NaN, -0.1, -0, Infinity, 0.1, Infinity], alpha: [0.05, 0.05, 0.05, 0.05, NaN, -Infinity] }, 13, [], [0.1, 0.1, 0.1, 0.3, 0.1, 0.3]),
  ],
});

const pgdL2StepOp = defineOp<L2Attrs>({
  name: 'pgd_l2_step',
  forward: (inputs, a) => {
    checkArgs('pgdL2Step', inputs, a, 1);
    const floor = a.normFloor;
    if (typeof floor !== 'number' || !(floor > 0) || !Number.isFinite(floor)) throw new RangeError(`pgdL2Step: normFloor must be a finite number > 0, got ${floor}`);
    const [x, xAdv, g] = inputs as [Tensor, Tensor, Tensor];
    const [y, batch, features] = outputLike(x);
    const [eps, alpha] = kernelValues(inputs, a);
    runPgdL2Step(x.device, { x: x.storage.binding(), xAdv: xAdv.storage.binding(), grad: g.storage.binding(), y: y.storage.binding() }, batch, features, eps, alpha, floor);
    return y;
  },
  reference: { forward: refL2 },
  // As pgd_linf_step's.
  nondiff: [3, 4],
  audit: [
    // Examples on the sphere, inside, at x itself (d = 0 before the step) and outside; example 1 has a zero gradient.
    l2Case('pgd_l2_step [4,3,5,5] eps 0.5 alpha 0.1', [4, 3, 5, 5], { eps: 0.5, alpha: 0.1 }, 11, [1, 0.5, 0, 1.3], [1]),
    l2Case('pgd_l2_step alpha > eps [3,7]', [3, 7], { eps: 0.1, alpha: 1 }, 12, [1, 0.2, 0]),
    l2Case('pgd_l2_step batch 1 [1,13]', [1, 13], { eps: 1, alpha: 0.2 }, 13, [1]),
    l2Case('pgd_l2_step zero gradient at x [2,5]', [2, 5], { eps: 0.3, alpha: 0.1 }, 14, [0, 1], [0, 1]),
    l2Case('pgd_l2_step eps 0 [2,9]', [2, 9], { eps: 0, alpha: 0.05 }, 15, [0]),
    l2Case('pgd_l2_step features > workgroup [3,700]', [3, 700], { eps: 2, alpha: 0.5 }, 16, [1, 0.7, 1.1]),
    l2Case('pgd_l2_step one feature [5,1]', [5, 1], { eps: 0.05, alpha: 0.02, normFloor: 1e-6 }, 17, [1, 0, 0.5, 2, 1]),
    // Per example: mixed radii, a row with eps 0, alpha > eps, a zero-gradient row (1).
    l2Case('pgd_l2_step per-example eps and alpha [4,3,5,5]', [4, 3, 5, 5], { eps: [0.5, 0, 1, 0.25], alpha: [0.1, 0.3, 2, 0.05] }, 18, [1, 0.5, 0.3, 1.3], [1]),
    l2Case('pgd_l2_step per-example eps, scalar alpha [3,700]', [3, 700], { eps: [2, 0.1, 0.7], alpha: 0.5 }, 19, [1, 0.7, 1.1]),
    l2Case('pgd_l2_step scalar eps, per-example alpha [5,1]', [5, 1], { eps: 0.05, alpha: [0.02, 0, 0.1, -0.03, 0.05], normFloor: 1e-6 }, 20, [1, 0, 0.5, 2, 1]),
    // Values the CPU cannot refuse: eps NaN, < 0, -0 read as 0, +inf as no ball; alpha NaN and +-inf as 0.
    l2Case('pgd_l2_step per-example NaN, inf, negative [6,4]', [6, 4], { eps: [NaN, -0.1, -0, Infinity, 0.1, Infinity], alpha: [0.05, 0.05, 0.05, 0.5, NaN, -Infinity] }, 21, [1, 0.5, 1.2, 2, 0.5, 1], [], [0.1, 0.1, 0.1, 0.3, 0.1, 0.3]),
  ],
});

/**
 * One L-inf PGD step: clamp(min(max(xAdv + alpha sign(grad), x - eps), x + eps), 0, 1), sign(0) = 0; eps and
 * alpha per example when given as [N] tensors (see the header).
 */
export function pgdLinfStep(x: Tensor, xAdv: Tensor, grad: Tensor, opts: PgdLinfStepOptions): Tensor {
  const [inputs, attrs] = stepInputs('pgdLinfStep', [x, xAdv, grad], opts);
  return pgdLinfStepOp(inputs, attrs);
}

/**
 * One L2 PGD step per example (dim 0 is the batch): xAdv + alpha grad/||grad||, projected onto the eps-ball
 * around x (d * min(1, eps/||d||)), clamped to [0, 1]; eps and alpha per example when given as [N] tensors.
 */
export function pgdL2Step(x: Tensor, xAdv: Tensor, grad: Tensor, opts: PgdL2StepOptions): Tensor {
  const [inputs, attrs] = stepInputs('pgdL2Step', [x, xAdv, grad], opts);
  return pgdL2StepOp(inputs, { ...attrs, normFloor: opts.normFloor ?? 1e-12 });
}

/**
 * eps or alpha of a reference case: params.eps (a number), or, per example, an input tensor named `eps` of
 * shape [N] (scripts/make_cases.py); giving both is an error.
 */
function caseValue(x: CaseInputs, p: CaseParams, k: 'eps' | 'alpha'): number | Tensor {
  const t = x[k];
  if (!t) return param.num(p, k);
  if (p[k] !== undefined) throw new TypeError(`${k} is given both as params.${k} and as inputs.${k}; give one`);
  return t;
}

registerCaseAdapter('pgd_linf_step', (x, p) => ({ x_adv_new: pgdLinfStep(x.x!, x.x_adv!, x.grad!, { eps: caseValue(x, p, 'eps'), alpha: caseValue(x, p, 'alpha') }) }), { inputs: ['x', 'x_adv', 'grad'] });
registerCaseAdapter('pgd_l2_step', (x, p) => ({
  x_adv_new: pgdL2Step(x.x!, x.x_adv!, x.grad!, { eps: caseValue(x, p, 'eps'), alpha: caseValue(x, p, 'alpha'), normFloor: param.optNum(p, 'norm_floor') ?? 1e-12 }),
}), { inputs: ['x', 'x_adv', 'grad'] });
