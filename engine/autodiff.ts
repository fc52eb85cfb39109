/**
 * The user-facing autodiff API over the tape (engine/tape.ts): `backward` fills `.grad` of leaves (PyTorch's
 * Tensor.backward); `grad`/`valueAndGrad` differentiate a function with respect to a tree of tensors (jax's
 * pytrees: engine/tree.ts), leaves or intermediates alike; `gradOf` is torch.autograd.grad(outputs, inputs,
 * grad_outputs) on tensors already computed. Only paths to the requested tensors are differentiated:
 * parameters that require grad get none (an attack asks for d loss / d x without paying for weight
 * gradients). A requested tensor the output does not depend on is an error, or zeros with `allowUnused`.
 */
import { onesLike, zerosLike } from './create.js';
import { backwardFrom } from './tape.js';
import { fmt } from './shape.js';
import { keep, scope, track } from './scope.js';
import { flatten, isTensor, tensorPaths, unflatten } from './tree.js';
import type { Tensor } from './tensor.js';
import { add } from './ops/index.js';

// Wrapped: this module and the ops import each other, so the functions are looked up at call time.
const walkOps = { add: (a: Tensor, b: Tensor) => add(a, b), onesLike: (t: Tensor) => onesLike(t) };

export interface GradOptions {
  /** Gradient of the output (default: ones; required for an output with more than one element). */
  seed?: Tensor;
  /** Keep saved tensors so that another backward can run through the same graph. */
  retainGraph?: boolean;
  /** Zeros, instead of an error, for a requested tensor the output does not depend on (PyTorch's allow_unused). */
  allowUnused?: boolean;
}

/** Backpropagates into the `.grad` of every leaf that requires grad (accumulating, as PyTorch). */
export function backward(root: Tensor, seed?: Tensor, opts: { retainGraph?: boolean } = {}): void {
  const { grads } = backwardFrom([root], { seeds: [seed ?? null], retainGraph: opts.retainGraph }, walkOps);
  for (const [leaf, g] of grads) {
    if (leaf.grad) {
      const prev = leaf.grad;
      leaf.grad = keep(add(prev, g));
      prev.dispose();
      g.dispose();
    } else {
      leaf.grad = g;
    }
  }
}

function describe(t: Tensor, where: string): string {
  return `${where} (tensor #${t.id}, ${t.dtype} ${fmt(t.shape)}${t.node ? `, the output of '${t.node.op}'` : ''})`;
}

/**
 * d(sum_k seeds[k] * outputs[k]) / d inputs[i] for each input (torch.autograd.grad), as tensors of the
 * current scope. The outputs must have been computed with grad mode on from the inputs (leaves that
 * require grad, or intermediates).
 */
export function gradOf(outputs: readonly Tensor[], inputs: readonly Tensor[], opts: { seeds?: (Tensor | null)[]; retainGraph?: boolean; allowUnused?: boolean; names?: string[] } = {}): Tensor[] {
  const distinct = [...new Set(inputs)];
  for (const [i, t] of inputs.entries()) t.assertLive(`grad (${opts.names?.[i] ?? `input ${i}`})`);
  const { grads, reached } = backwardFrom(outputs, { seeds: opts.seeds ?? outputs.map(() => null), targets: distinct, retainGraph: opts.retainGraph }, walkOps);
  try {
    const used = new Set<Tensor>();
    return inputs.map((t, i) => {
      const g = grads.get(t);
      if (g) {
        // The walk's gradients are kept out of scopes; the first use joins the current scope, repeats share its storage.
        if (used.has(t)) return g.detach();
        used.add(t);
        track(g);
        return g;
      }
      if (reached.has(t) || opts.allowUnused) return zerosLike(t);
      throw new Error(`grad: the output does not depend on ${describe(t, opts.names?.[i] ?? `input ${i}`)}; pass allowUnused: true for zeros`);
    });
  } catch (e) {
    for (const g of grads.values()) if (!g.disposed) g.dispose();
    throw e;
  }
}

/**
 * The gradients of f (a scalar, or any shape with `seed`) with respect to `inputs`, and f's value. `inputs`
 * is a tensor tree: an array is spread into f's arguments (`grad((x, w) => ..., [x, w])`), any other tree
 * (an object, a Map, a TensorContainer) is passed as f's one argument; the gradients come back in the same
 * structure. Inputs need not require grad. The value and the gradients are the caller's; everything else f
 * created is disposed.
 */
export function valueAndGrad(f: (...args: Tensor[]) => Tensor, inputs: readonly Tensor[], opts?: GradOptions): { value: Tensor; grads: Tensor[] };
export function valueAndGrad<A extends readonly unknown[]>(f: (...args: A) => Tensor, inputs: A, opts?: GradOptions): { value: Tensor; grads: A };
export function valueAndGrad<T extends object>(f: (tree: T) => Tensor, inputs: T, opts?: GradOptions): { value: Tensor; grads: T };
export function valueAndGrad(f: (...args: never[]) => Tensor, inputs: object, opts: GradOptions = {}): { value: Tensor; grads: unknown } {
  const { leaves, def } = flatten(inputs, 'inputs');
  const names = leaves.length ? tensorPaths(inputs, 'inputs').map(([p]) => p) : [];
  leaves.forEach((t, i) => {
    t.assertLive(`grad (${names[i]})`);
    if (t.dtype !== 'float32') throw new TypeError(`grad: ${describe(t, names[i] ?? `input ${i}`)} is not float32, so it cannot be differentiated`);
  });
  const distinct = [...new Set(leaves)];
  const restore = distinct.map((t) => (t.node ? null : t.requiresGrad));
  distinct.forEach((t) => { if (!t.node) t.requiresGrad = true; });
  try {
    return scope(() => {
      const call = f as (...args: unknown[]) => unknown;
      const y = Array.isArray(inputs) ? call(...(inputs as unknown[])) : call(inputs);
      if (!isTensor(y)) throw new TypeError(`grad: f must return a Tensor, got ${y === null ? 'null' : typeof y}`);
      const gs = gradOf([y], leaves, { seeds: [opts.seed ?? null], retainGraph: opts.retainGraph, allowUnused: opts.allowUnused, names });
      return { value: y.detach(), grads: unflatten(def, gs) };
    });
  } finally {
    distinct.forEach((t, i) => { if (restore[i] !== null) t.requiresGrad = restore[i]!; });
  }
}

export function grad(f: (...args: Tensor[]) => Tensor, inputs: readonly Tensor[], opts?: GradOptions): Tensor[];
export function grad<A extends readonly unknown[]>(f: (...args: A) => Tensor, inputs: A, opts?: GradOptions): A;
export function grad<T extends object>(f: (tree: T) => Tensor, inputs: T, opts?: GradOptions): T;
export function grad(f: (...args: never[]) => Tensor, inputs: object, opts: GradOptions = {}): unknown {
  const { value, grads } = valueAndGrad(f as (tree: object) => Tensor, inputs, opts);
  value.dispose();
  return grads;
}
