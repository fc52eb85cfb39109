/**
 * The op definition shape every op follows, and the registry the audit walks. An op is one object: its GPU
 * forward (calling a kernel), its backward written with other ops, its float64 reference (forward and
 * vector-Jacobian product) and its audit cases. Registering an op without a reference or cases does not
 * type-check, and test/engine/registry.test.ts fails on ops whose audit entry is incomplete.
 */
import { scope } from './scope.js';
import { noGrad, record, type BackwardFn } from './tape.js';
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

/** A forward's output plus tensors only its backward reads (appended to ctx.saved). */
export interface ForwardResult { out: Tensor; saved: Tensor[] }

export interface OpDef<A> {
  name: string;
  /**
   * GPU forward. Temporaries it creates are disposed automatically (it runs inside a scope). It may return
   * `{ out, saved }` to hand its backward tensors it computed anyway (argmax indices, batch statistics).
   */
  forward(inputs: Tensor[], attrs: A): Tensor | ForwardResult;
  /** Absent for ops with no gradient (comparisons, argmax) and for composite ops. */
  backward?: BackwardFn<A>;
  /** What backward reads: the inputs (ctx.saved[0..n)) and/or the output (after them), then the forward's `saved`. */
  save?: { inputs?: boolean; output?: boolean };
  /** Forward is written with other differentiable ops, so the tape records those instead. */
  composite?: boolean;
  /** Inputs that never get a gradient (masks, labels). */
  nondiff?: number[];
  /** Movement ops copy 32-bit words and take every dtype; all other ops take float32 only. */
  anyDType?: boolean;
  /** Inputs that must be int32 (class labels); the audit uploads them as int32. List them in nondiff too. */
  int32Inputs?: number[];
  /**
   * The backward is deliberately not the derivative of the forward (relu_smoothgrad's smoothed ReLU
   * gradient): the audit still checks GPU against reference gradients but skips finite differences, and says so.
   */
  surrogateGradient?: boolean;
  reference: Reference<A>;
  audit: AuditCase<A>[];
  /** Forward/gradient tolerance vs the float64 reference: |got-ref| <= atol*max(1,max|ref|) + rtol*|ref|. */
  tolerance?: { atol?: number; rtol?: number };
}

const registry = new Map<string, OpDef<unknown>>();

export type OpFn<A> = (inputs: Tensor[], attrs: A) => Tensor;

export function defineOp<A>(def: OpDef<A>): OpFn<A> {
  if (registry.has(def.name)) throw new Error(`op '${def.name}' is defined twice`);
  registry.set(def.name, def as OpDef<unknown>);
  return (inputs, attrs) => applyOp(def, inputs, attrs);
}

export function applyOp<A>(def: OpDef<A>, inputs: Tensor[], attrs: A): Tensor {
  for (const [i, t] of inputs.entries()) {
    t.assertLive(`${def.name} (input ${i})`);
    const int = def.int32Inputs?.includes(i) ?? false;
    if (int && t.dtype !== 'int32') throw new TypeError(`${def.name}: input ${i} must be int32 (class labels), got ${t.dtype} (tensor #${t.id})`);
    if (!int && !def.anyDType && t.dtype !== 'float32') throw new TypeError(`${def.name}: input ${i} must be float32, got ${t.dtype} (tensor #${t.id})`);
    if (t.device !== inputs[0]!.device) throw new Error(`${def.name}: inputs are on different devices`);
  }
  if (def.composite) { const r = withOp(def.name, () => def.forward(inputs, attrs)); return 'out' in r ? r.out : r; }
  const res = withOp(def.name, () => noGrad(() => scope(() => def.forward(inputs, attrs))));
  const out = 'out' in res ? res.out : res;
  const extra = 'out' in res ? res.saved : [];
  if (def.backward) {
    const save = [...(def.save?.inputs ? inputs : []), ...(def.save?.output ? [out] : []), ...extra];
    record(def.name, inputs, out, save, def.backward, attrs);
  }
  // The tape keeps its own aliases of what it saves.
  for (const t of extra) t.dispose();
  return out;
}

export function registeredOps(): OpDef<unknown>[] {
  return [...registry.values()];
}

export function getOp(name: string): OpDef<unknown> | undefined {
  return registry.get(name);
}
