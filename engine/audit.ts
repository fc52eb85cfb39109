/**
 * The gradient audit. For every registered op and each of its audit cases (odd sizes, size-1 dims, large
 * and small magnitudes), on inputs drawn reproducibly as exact float32 values:
 *   1. GPU forward vs the op's float64 CPU reference;
 *   2. GPU gradients (through the tape, seeded with a random cotangent) vs the reference's gradients;
 *   3. the reference's gradients vs central finite differences of the reference forward, in float64 (not for
 *      ops whose backward is a surrogate by design, nor for cases placed on a kink: the row's notes say so).
 * Tolerances: (1) and (2) use the op's tolerance (default |err| <= 1e-5*max(1,max|ref|) + 1e-4*|ref|);
 * (3) uses PyTorch gradcheck's atol 1e-5, rtol 1e-3 with a relative step of 1e-6.
 */
import { getOp, registeredOps, applyOpList, isMultiOutput, outputNames, referenceBackward, referenceOutputs, type InputGen, type OpDef } from './op.js';
import { compare, DEFAULT_TOLERANCE, type Comparison, type Tolerance } from './compare.js';
import { tensor } from './create.js';
import { gradOf } from './autodiff.js';
import { noGrad } from './tape.js';
import { scope } from './scope.js';
import { ref, type RefTensor } from './ref/tensor.js';
import { CpuRandom } from './ref/random.js';
import { sizeOf, type Shape } from './shape.js';
import type { Device } from './device.js';
import { withPrecision, type Precision } from './precision.js';
import type { Tensor } from './tensor.js';

export const FD_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-3 };
const FD_STEP = 1e-6;
/** Finite differences visit at most this many elements per input (chosen at random beyond it). */
const FD_MAX_ELEMENTS = 48;

export interface AuditCheck { case: string; check: 'forward' | 'gradient' | 'finite-diff'; input?: number; cmp: Comparison }

export interface AuditRow {
  op: string;
  cases: number;
  forward: { maxAbs: number; maxRel: number };
  gradient: { maxAbs: number; maxRel: number } | null;
  finiteDiff: { maxAbs: number; maxRel: number } | null;
  tolerance: Tolerance;
  pass: boolean;
  failures: string[];
  /** Checks deliberately not run, and why (surrogate gradients skip finite differences). */
  notes: string[];
}

export interface AuditOptions { ops?: string[]; seed?: number }

/** Draws one input as float32-exact numbers. */
export function drawInput(rng: CpuRandom, shape: Shape, gen: InputGen, scale: number): RefTensor {
  const n = sizeOf(shape);
  if (gen.startsWith('labels:')) {
    const k = Number(gen.slice('labels:'.length));
    return ref(shape, Array.from({ length: n }, () => Math.min(k - 1, Math.floor(rng.next() * k))));
  }
  let vals: number[];
  switch (gen) {
    case 'positive': vals = Array.from({ length: n }, () => rng.uniform(0.2, 2)); break;
    case 'away': vals = Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.2, 2)); break;
    case 'mask': vals = Array.from({ length: n }, () => (rng.next() < 0.5 ? 0 : 1)); break;
    // A shuffled grid: all values distinct and at least 2/n apart, so no ties and no FD step crosses one.
    case 'distinct': vals = rng.permutation(n).map((k) => ((k - n / 2) * 2) / Math.max(n, 1)); break;
    default: vals = Array.from({ length: n }, () => rng.normal());
  }
  return ref(shape, vals.map((v) => Math.fround(v * (gen === 'mask' ? 1 : scale))));
}

function weightedSum(ys: RefTensor[], gs: (RefTensor | null)[]): number {
  let s = 0;
  ys.forEach((y, k) => {
    const g = gs[k];
    if (g) for (let i = 0; i < y.data.length; i++) s += y.data[i]! * g.data[i]!;
  });
  return s;
}

/** Central differences of sum_k sum(gouts[k] * f_k(x)) for sampled elements of input k, beside the reference gradient. */
function finiteDifferences(def: OpDef<unknown>, inputs: RefTensor[], attrs: unknown, gouts: (RefTensor | null)[], k: number, grad: RefTensor, rng: CpuRandom): Comparison {
  const x = inputs[k]!;
  const idx = x.data.length <= FD_MAX_ELEMENTS ? [...x.data.keys()] : rng.permutation(x.data.length).slice(0, FD_MAX_ELEMENTS);
  const fd: number[] = [];
  const an: number[] = [];
  for (const i of idx) {
    const v = x.data[i]!;
    const h = FD_STEP * Math.max(1, Math.abs(v));
    const at = (u: number) => {
      const xs = inputs.slice();
      const d = Float64Array.from(x.data);
      d[i] = u;
      xs[k] = { shape: x.shape, data: d };
      return weightedSum(referenceOutputs(def, xs, attrs), gouts);
    };
    fd.push((at(v + h) - at(v - h)) / (2 * h));
    an.push(grad.data[i]!);
  }
  return compare(fd, an, FD_TOLERANCE);
}

function summary(cmps: Comparison[]): { maxAbs: number; maxRel: number } | null {
  if (!cmps.length) return null;
  return { maxAbs: Math.max(...cmps.map((c) => c.maxAbs)), maxRel: Math.max(...cmps.map((c) => c.maxRel)) };
}

function isDifferentiable(def: OpDef<unknown>): boolean {
  return (!!def.backward || !!def.composite) && !!def.reference.backward;
}

/**
 * The cotangent sets a case is checked with: all differentiable outputs together, and for an op with
 * several outputs each one alone (the others get no gradient), so every output's backward path is checked.
 */
function cotangentSets(def: OpDef<unknown>, outs: RefTensor[], rng: CpuRandom): { label: string; gouts: (RefTensor | null)[] }[] {
  const names = outputNames(def);
  const skip = new Set(isMultiOutput(def) ? def.nondiffOutputs ?? [] : []);
  const all = outs.map((y, k) => (skip.has(names[k]!) ? null : drawInput(rng, y.shape, 'normal', 1)));
  const sets = [{ label: '', gouts: all }];
  if (names.length > 1) {
    all.forEach((g, k) => { if (g) sets.push({ label: ` via output '${names[k]}'`, gouts: all.map((h, j) => (j === k ? h : null)) }); });
  }
  return sets;
}

async function auditOp(device: Device, def: OpDef<unknown>, seed: number, precision: Precision = 'float32'): Promise<AuditRow> {
  const half = precision === 'f16-mixed';
  const tol = half ? def.mixedPrecision!.tolerance : { ...DEFAULT_TOLERANCE, ...def.tolerance };
  const checks: AuditCheck[] = [];
  const failures: string[] = [];
  const rng = new CpuRandom(seed ^ hash(def.name));
  const names = outputNames(def);
  for (const c of def.audit) {
    try {
      const inputs = c.shapes.map((s, i) => {
        const v = c.values?.[i];
        return v ? ref(s, v.map((u) => Math.fround(u))) : drawInput(rng, s, c.gen?.[i] ?? 'normal', c.scale ?? 1);
      });
      const want = referenceOutputs(def, inputs, c.attrs);
      const diff = isDifferentiable(def) ? inputs.map((_, i) => !(def.nondiff ?? []).includes(i)) : inputs.map(() => false);
      const sets = diff.some(Boolean) ? cotangentSets(def, want, rng) : [{ label: '', gouts: [] }];
      for (const [si, set] of sets.entries()) {
        const wantGrads = diff.some(Boolean) ? referenceBackward(def, inputs, c.attrs, want, set.gouts) : [];
        const { outs, grads } = await runOnGpu(device, def, inputs, c.attrs, diff, set.gouts, precision);
        if (si === 0) {
          outs.forEach((out, k) => checks.push({ case: names.length > 1 ? `${c.name} output '${names[k]}'` : c.name, check: 'forward', cmp: compare(out, want[k]!.data, tol) }));
        }
        const label = `${c.name}${set.label}`;
        diff.forEach((d, i) => {
          if (!d || !wantGrads[i]) return;
          checks.push({ case: label, check: 'gradient', input: i, cmp: compare(grads[i]!, wantGrads[i]!.data, tol) });
          if (!half && !def.surrogateGradient && !c.skipFiniteDiff) checks.push({ case: label, check: 'finite-diff', input: i, cmp: finiteDifferences(def, inputs, c.attrs, set.gouts, i, wantGrads[i]!, rng) });
        });
      }
    } catch (e) {
      failures.push(`${c.name}: ${(e as Error).message}`);
    }
  }
  for (const ch of checks) {
    if (!ch.cmp.pass) {
      failures.push(`${ch.case}: ${ch.check}${ch.input !== undefined ? ` (input ${ch.input})` : ''} element ${ch.cmp.worstIndex} is ${ch.cmp.got}, expected ${ch.cmp.want} (${ch.cmp.worstRatio.toFixed(2)}x the tolerance)`);
    }
  }
  const of = (k: AuditCheck['check']) => checks.filter((c) => c.check === k).map((c) => c.cmp);
  return {
    op: half ? `${def.name} (f16-mixed)` : def.name, cases: def.audit.length,
    forward: summary(of('forward')) ?? { maxAbs: NaN, maxRel: NaN },
    gradient: summary(of('gradient')), finiteDiff: summary(of('finite-diff')),
    tolerance: tol, pass: failures.length === 0 && def.audit.length > 0, failures,
    notes: half ? ['f16 operands, f32 accumulation; finite differences are checked in the float32 row'] : [
      ...(def.surrogateGradient ? ['finite differences skipped: the backward is a surrogate gradient by design, not the derivative'] : []),
      ...def.audit.filter((c) => c.skipFiniteDiff).map((c) => `${c.name}: finite differences skipped: ${c.skipFiniteDiff}`),
    ],
  };
}

async function runOnGpu(device: Device, def: OpDef<unknown>, inputs: RefTensor[], attrs: unknown, diff: boolean[], gouts: (RefTensor | null)[],
  precision: Precision): Promise<{ outs: ArrayLike<number>[]; grads: (ArrayLike<number> | null)[] }> {
  const made = withPrecision(precision, () => scope(() => {
    const xs = inputs.map((x, i) => tensor(x.data, x.shape, { device, dtype: def.int32Inputs?.includes(i) ? 'int32' : 'float32' }));
    const targets = xs.filter((_, i) => diff[i]);
    if (!targets.length) return { ys: noGrad(() => applyOpList(def, xs, attrs)), grads: [] as Tensor[] };
    const restore = targets.map((t) => t.requiresGrad);
    targets.forEach((t) => { t.requiresGrad = true; });
    try {
      const ys = applyOpList(def, xs, attrs);
      const roots = ys.filter((_, k) => gouts[k]);
      const seeds = gouts.filter((g): g is RefTensor => g !== null).map((g) => tensor(g.data, g.shape, { device }));
      // An input the chosen outputs do not depend on has a zero gradient, as the reference says.
      const grads = gradOf(roots, targets, { seeds, allowUnused: true });
      return { ys: ys.map((y) => y.detach()), grads };
    } finally {
      targets.forEach((t, i) => { t.requiresGrad = restore[i]!; });
    }
  }), device);
  try {
    const outs: ArrayLike<number>[] = [];
    for (const y of made.ys) outs.push(await y.read());
    const g: (ArrayLike<number> | null)[] = [];
    let k = 0;
    for (const d of diff) g.push(d ? await made.grads[k++]!.read() : null);
    return { outs, grads: g };
  } finally {
    made.ys.forEach((t) => t.dispose());
    made.grads.forEach((t) => t.dispose());
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export async function runAudit(device: Device, opts: AuditOptions = {}): Promise<AuditRow[]> {
  const defs = opts.ops?.length ? opts.ops.map((n) => {
    const d = getOp(n);
    if (!d) throw new Error(`audit: unknown op '${n}' (ops: ${registeredOps().map((o) => o.name).sort().join(', ')})`);
    return d;
  }) : registeredOps();
  const rows: AuditRow[] = [];
  for (const def of defs) {
    rows.push(await auditOp(device, def, opts.seed ?? 0));
    if (def.mixedPrecision && device.hasF16) rows.push(await auditOp(device, def, opts.seed ?? 0, 'f16-mixed'));
  }
  return rows;
}
