/**
 * The op definition shape every op follows, and the registry the audit walks. An op is one object: its GPU
 * forward (calling a kernel), its backward written with other ops, its float64 reference (forward and
 * vector-Jacobian product) and its audit cases. Registering an op without a reference or cases does not
 * type-check, and test/engine/registry.test.ts fails on ops whose audit entry is incomplete.
 *
 * Inputs, outputs and saved tensors have names: `inputs: ['x', 'weight', 'bias?']`, `outputs: ['y']` (the
 * default), `save: ['x', 'weight', 'y']`, read in the backward as `ctx.saved.weight`. A name with a '?' is an
 * optional trailing input; '...t' names the rest of a variadic op's inputs, saved as t0, t1, ... An op with
 * several outputs (`outputs: ['var', 'mean']`) returns them by name and gets their gradients by name.
 */
import { scope } from './scope.js';
import { noGrad, record, type BackwardFn, type MultiBackwardFn, type NodeBackward } from './tape.js';
import { withOp } from './op_context.js';
import type { RefTensor } from './ref/tensor.js';
import type { Shape } from './shape.js';
import type { Tensor } from './tensor.js';

/**
 * How the audit draws an input: normal(0,1); positive in [0.2, 2]; |x| >= 0.2; 0/1 mask; distinct values (no
 * ties); 'labels:K' integer class labels in [0, K) (for the op's int32Inputs; not scaled).
 */
export type InputGen = 'normal' | 'positive' | 'away' | 'mask' | 'distinct' | `labels:${number}`;

export interface AuditCase<A> {
  name: string;
  shapes: Shape[];
  attrs: A;
  gen?: InputGen[];
  /** Multiplies drawn inputs (large and small magnitudes). */
  scale?: number;
  /**
   * Explicit row-major values for some inputs (rounded to float32), for edge cases random draws never hit
   * (points on a boundary, zero gradients); inputs without values are drawn as usual.
   */
  values?: (readonly number[] | null)[];
  /**
   * Why finite differences cannot check this case (inputs on a kink on purpose, e.g. tied maxima, where the
   * op picks one one-sided derivative as PyTorch does); GPU and reference gradients are still compared.
   */
  skipFiniteDiff?: string;
}

export interface Reference<A> {
  forward(inputs: RefTensor[], attrs: A): RefTensor;
  /** Gradients of sum(gout * forward(inputs)) for each input (null where not differentiable). */
  backward?(inputs: RefTensor[], attrs: A, out: RefTensor, gout: RefTensor): (RefTensor | null)[];
}

export interface MultiReference<A> {
  /** Every output, by name. */
  forward(inputs: RefTensor[], attrs: A): Record<string, RefTensor>;
  /** Gradients of sum_k sum(gouts[k] * outputs[k]) for each input; a null gout is an output with no gradient. */
  backward?(inputs: RefTensor[], attrs: A, outs: Record<string, RefTensor>, gouts: Record<string, RefTensor | null>): (RefTensor | null)[];
}

/** A forward's output plus tensors only its backward reads, by the names its `save` list uses. */
export interface ForwardResult { out: Tensor; saved: Record<string, Tensor> }
/** A multi-output forward's outputs by name, plus tensors only its backward reads. */
export interface MultiForwardResult { outs: Record<string, Tensor>; saved?: Record<string, Tensor> }

interface OpDefCommon<A> {
  name: string;
  /** Input names in order ('bias?' optional, '...t' the rest); needed where `save` names an input. */
  inputs?: readonly string[];
  /** What backward reads, by input, output or forward-saved name ('win?': only when the forward handed it over). */
  save?: readonly string[];
  /** Forward is written with other differentiable ops, so the tape records those instead. */
  composite?: boolean;
  /** Inputs that never get a gradient (masks, labels). */
  nondiff?: number[];
  /** Movement ops copy 32-bit words and take every 4-byte dtype; all other ops take float32 only. */
  anyDType?: boolean;
  /** Also takes float16 (two elements to a word): views (reshape) and the casts of mixed precision. */
  halfInputs?: boolean;
  /** Inputs that must be int32 (class labels); the audit uploads them as int32. List them in nondiff too. */
  int32Inputs?: number[];
  /**
   * The backward is deliberately not the derivative of the forward (relu_smoothgrad's smoothed ReLU
   * gradient): the audit still checks GPU against reference gradients but skips finite differences, and says so.
   */
  surrogateGradient?: boolean;
  audit: AuditCase<A>[];
  /** Forward/gradient tolerance vs the float64 reference: |got-ref| <= atol*max(1,max|ref|) + rtol*|ref|. */
  tolerance?: { atol?: number; rtol?: number };
  /**
   * The op reads f16 operands under withPrecision('f16-mixed') (engine/precision.ts): the audit checks it a
   * second time at that precision against the same float64 reference, with this tolerance.
   */
  mixedPrecision?: { tolerance: { atol: number; rtol: number } };
}

export interface SingleOpDef<A> extends OpDefCommon<A> {
  outputs?: readonly [string];
  /**
   * GPU forward. Temporaries it creates are disposed automatically (it runs inside a scope). It may return
   * `{ out, saved }` to hand its backward tensors it computed anyway (argmax indices, batch statistics).
   */
  forward(inputs: Tensor[], attrs: A): Tensor | ForwardResult;
  /** Absent for ops with no gradient (comparisons, argmax) and for composite ops. */
  backward?: BackwardFn<A>;
  reference: Reference<A>;
}

export interface MultiOpDef<A> extends OpDefCommon<A> {
  outputs: readonly string[];
  /** Outputs that never carry a gradient (indices); the audit draws no cotangent for them. */
  nondiffOutputs?: readonly string[];
  forward(inputs: Tensor[], attrs: A): MultiForwardResult;
  backward?: MultiBackwardFn<A>;
  reference: MultiReference<A>;
}

export type OpDef<A> = SingleOpDef<A> | MultiOpDef<A>;

export function isMultiOutput<A>(def: OpDef<A>): def is MultiOpDef<A> {
  return (def.outputs?.length ?? 1) > 1;
}

/** Output names (['y'] for a single-output op that names none). */
export function outputNames(def: OpDef<unknown>): readonly string[] {
  return def.outputs ?? ['y'];
}

/** The reference forward as a list in output order, whatever the op's arity. */
export function referenceOutputs<A>(def: OpDef<A>, inputs: RefTensor[], attrs: A): RefTensor[] {
  if (!isMultiOutput(def)) return [def.reference.forward(inputs, attrs)];
  const outs = def.reference.forward(inputs, attrs);
  return def.outputs.map((n) => {
    const t = outs[n];
    if (!t) throw new Error(`${def.name}: the reference forward returned no output '${n}'`);
    return t;
  });
}

/** The reference VJP with outputs and cotangents as lists in output order (null: no gradient for that output). */
export function referenceBackward<A>(def: OpDef<A>, inputs: RefTensor[], attrs: A, outs: RefTensor[], gouts: (RefTensor | null)[]): (RefTensor | null)[] {
  if (!isMultiOutput(def)) return def.reference.backward!(inputs, attrs, outs[0]!, gouts[0]!);
  const byName = <T>(xs: T[]) => Object.fromEntries(def.outputs.map((n, i) => [n, xs[i]!])) as Record<string, T>;
  return def.reference.backward!(inputs, attrs, byName(outs), byName(gouts));
}

const registry = new Map<string, OpDef<unknown>>();

export type OpFn<A> = (inputs: Tensor[], attrs: A) => Tensor;
export type MultiOpFn<A> = (inputs: Tensor[], attrs: A) => Record<string, Tensor>;

function checkDefinition(def: OpDef<unknown>): void {
  const outs = outputNames(def);
  const names = new Set([...(def.inputs ?? []).map((n) => n.replace(/^\.\.\./, '').replace(/\?$/, '')), ...outs]);
  if (names.size !== (def.inputs?.length ?? 0) + outs.length) throw new Error(`op '${def.name}': input and output names must be distinct`);
  const rest = def.inputs?.findIndex((n) => n.startsWith('...')) ?? -1;
  if (rest >= 0 && rest !== def.inputs!.length - 1) throw new Error(`op '${def.name}': only the last input can be a rest ('...name')`);
}

export function defineOp<A>(def: SingleOpDef<A>): OpFn<A>;
export function defineOp<A>(def: MultiOpDef<A>): MultiOpFn<A>;
export function defineOp<A>(def: OpDef<A>): OpFn<A> | MultiOpFn<A> {
  if (registry.has(def.name)) throw new Error(`op '${def.name}' is defined twice`);
  checkDefinition(def as OpDef<unknown>);
  registry.set(def.name, def as OpDef<unknown>);
  if (isMultiOutput(def)) return (inputs, attrs) => applyOpAll(def, inputs, attrs);
  return (inputs, attrs) => applyOp(def, inputs, attrs);
}

function checkInputs<A>(def: OpDef<A>, inputs: Tensor[]): void {
  for (const [i, t] of inputs.entries()) {
    t.assertLive(`${def.name} (input ${i})`);
    const int = def.int32Inputs?.includes(i) ?? false;
    if (int && t.dtype !== 'int32') throw new TypeError(`${def.name}: input ${i} must be int32 (class labels), got ${t.dtype} (tensor #${t.id})`);
    if (t.dtype === 'float16' && !def.halfInputs) {
      throw new TypeError(`${def.name}: input ${i} is float16 (tensor #${t.id}), which only the casts and the kernels of mixed precision read; cast it to float32 first (toFloat32)`);
    }
    if (!int && !def.anyDType && !def.halfInputs && t.dtype !== 'float32') throw new TypeError(`${def.name}: input ${i} must be float32, got ${t.dtype} (tensor #${t.id})`);
    if (t.device !== inputs[0]!.device) throw new Error(`${def.name}: inputs are on different devices`);
  }
}

/** The named inputs of one call: 'bias?' only when given, '...t' as t0, t1, ... */
function namedInputs(def: OpDef<unknown>, inputs: Tensor[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  (def.inputs ?? []).forEach((n, i) => {
    if (n.startsWith('...')) inputs.slice(i).forEach((t, k) => { out[`${n.slice(3)}${k}`] = t; });
    else if (inputs[i]) out[n.replace(/\?$/, '')] = inputs[i]!;
  });
  return out;
}

/** Runs the forward; returns the outputs in order and what the backward saves, by name. */
function forwardAll<A>(def: OpDef<A>, inputs: Tensor[], attrs: A): Tensor[] {
  checkInputs(def, inputs);
  const outNames = outputNames(def as OpDef<unknown>);
  if (def.composite) {
    if (isMultiOutput(def)) { const r = withOp(def.name, () => def.forward(inputs, attrs)); return outNames.map((n) => r.outs[n]!); }
    const r = withOp(def.name, () => def.forward(inputs, attrs));
    return ['out' in r ? r.out : r];
  }
  const res = withOp(def.name, () => noGrad(() => scope(() => def.forward(inputs, attrs))));
  let outs: Tensor[];
  let extra: Record<string, Tensor>;
  if (isMultiOutput(def)) {
    const r = res as MultiForwardResult;
    outs = outNames.map((n) => {
      const t = r.outs[n];
      if (!t) throw new Error(`${def.name}: the forward returned no output '${n}'`);
      return t;
    });
    extra = r.saved ?? {};
  } else {
    const r = res as Tensor | ForwardResult;
    outs = ['out' in r ? r.out : r];
    extra = 'out' in r ? r.saved : {};
  }
  if (def.backward) {
    const available: Record<string, Tensor> = { ...namedInputs(def as OpDef<unknown>, inputs), ...extra };
    outNames.forEach((n, i) => { available[n] = outs[i]!; });
    const save: Record<string, Tensor> = {};
    for (const n of def.save ?? []) {
      if (n.startsWith('...')) {
        const base = n.slice(3);
        for (const [k, t] of Object.entries(available)) if (new RegExp(`^${base}\\d+$`).test(k)) save[k] = t;
        continue;
      }
      const name = n.replace(/\?$/, '');
      const t = available[name];
      if (!t && n.endsWith('?')) continue;
      if (!t) throw new Error(`op '${def.name}': save names '${n}', which is neither an input, an output nor a tensor its forward handed over (${Object.keys(available).join(', ')})`);
      save[name] = t;
    }
    for (const n of Object.keys(extra)) if (!(n in save)) throw new Error(`op '${def.name}': its forward handed over '${n}' but save does not list it`);
    const nodeBackward: NodeBackward = isMultiOutput(def)
      ? (gs, ctx) => def.backward!(Object.fromEntries(outNames.map((n, i) => [n, gs[i] ?? null])), ctx as never)
      : (gs, ctx) => (def.backward as BackwardFn<unknown>)(gs[0]!, ctx);
    record(def.name, inputs, outs, save, nodeBackward, attrs);
  }
  // The tape keeps its own aliases of what it saves (a saved tensor may also be an output).
  for (const t of Object.values(extra)) if (!outs.includes(t)) t.dispose();
  return outs;
}

export function applyOp<A>(def: SingleOpDef<A>, inputs: Tensor[], attrs: A): Tensor {
  return forwardAll(def, inputs, attrs)[0]!;
}

export function applyOpAll<A>(def: OpDef<A>, inputs: Tensor[], attrs: A): Record<string, Tensor> {
  const outs = forwardAll(def, inputs, attrs);
  return Object.fromEntries(outputNames(def as OpDef<unknown>).map((n, i) => [n, outs[i]!]));
}

/** Every output in order (the audit's view of an op of any arity). */
export function applyOpList<A>(def: OpDef<A>, inputs: Tensor[], attrs: A): Tensor[] {
  return forwardAll(def, inputs, attrs);
}

export function registeredOps(): OpDef<unknown>[] {
  return [...registry.values()];
}

export function getOp(name: string): OpDef<unknown> | undefined {
  return registry.get(name);
}
