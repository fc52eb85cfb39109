/**
 * Tensor trees (jax's pytrees): nested arrays, plain objects, Maps and Sets whose leaves are tensors or
 * static values, plus class instances that expose their tensors through `tensors()` (TensorContainer).
 * One walker serves scope/keep/dispose, grad/valueAndGrad with respect to a tree, Module.functionalCall,
 * checkpoints and result objects, so they all see the same tensors. The walk is iterative (no depth
 * limit) and keeps a seen-set (shared subtrees are visited once, cycles end).
 *
 * A class instance that does not implement `tensors()` is opaque: the walker cannot rebuild it, and a
 * tensor hidden inside it would be invisible to scope() (and disposed under the caller's feet). So where
 * the walker meets one, it probes the instance's own properties for tensors; finding any is an error that
 * names the path and the class, never a silent disposal. An instance with no tensors is a static leaf.
 */
import type { Tensor } from './tensor.js';

/** Set on Tensor.prototype: lets this file recognise tensors without importing the class (no cycle). */
export const TENSOR_BRAND = Symbol.for('robustgpu.tensor');

export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && (v as { [TENSOR_BRAND]?: unknown })[TENSOR_BRAND] === true;
}

/**
 * A class whose instances hold tensors that trees must see. `tensors()` returns them as a tree (often a
 * flat array); `withTensors(tree)` (optional) returns an instance holding the given tree in their place,
 * which `unflatten` needs (grad with respect to such an instance returns one holding the gradients).
 */
export interface TensorContainer {
  tensors(): unknown;
  withTensors?(tree: unknown): unknown;
}

function isContainer(v: object): v is TensorContainer {
  return typeof (v as Partial<TensorContainer>).tensors === 'function';
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const p = Object.getPrototypeOf(v) as object | null;
  return p === null || p === Object.prototype;
}

/** Objects that never hold tensors and are not worth probing. */
function isInert(v: object): boolean {
  return ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Promise || v instanceof Date || v instanceof RegExp
    || v instanceof Error || typeof v === 'function' || v instanceof WeakMap || v instanceof WeakSet;
}

export class TreeError extends TypeError {}

const PROBE_BUDGET = 200_000;

/** Path of the first tensor reachable from an opaque object's own properties, or null. */
function probeOpaque(root: object, path: string, wanted: (t: Tensor) => boolean): string | null {
  const seen = new Set<object>([root]);
  const stack: [unknown, string][] = [[root, path]];
  let budget = PROBE_BUDGET;
  while (stack.length) {
    const [v, p] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (isTensor(v)) { if (wanted(v)) return p; continue; }
    if (isInert(v)) continue;
    if (--budget < 0) throw new TreeError(`${path}: a ${className(root)} instance is too large to check for tensors; implement tensors() on it`);
    const kids: [unknown, string][] = v instanceof Map ? [...v.entries()].map(([k, x]) => [x, `${p}.get(${String(k)})`])
      : v instanceof Set ? [...v].map((x, i) => [x, `${p}[set ${i}]`])
        : Array.isArray(v) ? v.map((x, i) => [x, `${p}[${i}]`])
          : Object.entries(v).map(([k, x]) => [x, `${p}.${k}`]);
    for (const [x, q] of kids) {
      if (typeof x === 'object' && x !== null && !seen.has(x)) { seen.add(x); stack.push([x, q]); }
    }
  }
  return null;
}

function className(v: object): string {
  return (v.constructor as { name?: string } | undefined)?.name || 'object';
}

export interface VisitOptions {
  /**
   * Which tensors inside an opaque object make it an error (default: every tensor). scope() only objects to
   * tensors it is about to dispose; tensors an opaque object holds that live elsewhere are no concern of it.
   */
  opaqueHolds?: (t: Tensor) => boolean;
  /** The name used for the root in error messages (default 'tree'). */
  root?: string;
}

/** Calls fn once for every distinct tensor in the tree, in flatten order. */
export function forEachTensor(tree: unknown, fn: (t: Tensor, path: string) => void, opts: VisitOptions = {}): void {
  const seen = new Set<object>();
  const stack: [unknown, string][] = [[tree, opts.root ?? 'tree']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (isTensor(v)) { fn(v, path); continue; }
    const kids = children(v, path, opts);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
}

/** The direct subtrees of a node in flatten order ([] for leaves), or an error for an opaque object holding tensors. */
function children(v: object, path: string, opts: VisitOptions): [unknown, string][] {
  if (Array.isArray(v)) return v.map((x, i) => [x, `${path}[${i}]`]);
  if (v instanceof Map) return [...v.entries()].map(([k, x]) => [x, `${path}.get(${JSON.stringify(k) ?? String(k)})`]);
  if (v instanceof Set) return [...v].map((x, i) => [x, `${path}[set ${i}]`]);
  if (isContainer(v)) return [[v.tensors(), `${path}.tensors()`]];
  if (isPlainObject(v)) return Object.entries(v).map(([k, x]) => [x, `${path}.${k}`]);
  if (isInert(v)) return [];
  const hidden = probeOpaque(v, path, opts.opaqueHolds ?? (() => true));
  if (hidden) {
    throw new TreeError(`${hidden} is a tensor inside a ${className(v)} instance (at ${path}), which tensor trees cannot see: `
      + `implement tensors() on ${className(v)} (TensorContainer), or return plain objects, arrays or Maps`);
  }
  return [];
}

/** Every distinct tensor of the tree, in flatten order. */
export function treeTensors(tree: unknown, opts: VisitOptions = {}): Tensor[] {
  const out: Tensor[] = [];
  forEachTensor(tree, (t) => out.push(t), opts);
  return out;
}

/** Disposes every tensor of the tree (containers included); returns nothing to keep. */
export function disposeTree(tree: unknown): void {
  forEachTensor(tree, (t) => t.dispose());
}

// ---- flatten / unflatten (structure-preserving) ----

/** The structure of a tree with its tensors taken out; `unflatten(def, leaves)` rebuilds it. */
export type TreeDef =
  | { kind: 'tensor' }
  | { kind: 'static'; value: unknown }
  | { kind: 'array'; items: TreeDef[] }
  | { kind: 'object'; keys: string[]; items: TreeDef[]; nullProto: boolean }
  | { kind: 'map'; keys: unknown[]; items: TreeDef[] }
  | { kind: 'container'; instance: TensorContainer; inner: TreeDef; path: string };

/**
 * The tensors of a tree in order (a tensor that appears twice is two leaves, as in jax) and its structure.
 * Cycles are refused; Sets are refused (their order is not a structure to rebuild).
 */
export function flatten(tree: unknown, root = 'tree'): { leaves: Tensor[]; def: TreeDef } {
  const leaves: Tensor[] = [];
  const onPath = new Set<object>();
  const walk = (v: unknown, path: string): TreeDef => {
    if (typeof v !== 'object' || v === null) return { kind: 'static', value: v };
    if (isTensor(v)) { leaves.push(v); return { kind: 'tensor' }; }
    if (onPath.has(v)) throw new TreeError(`${path}: the tree contains a cycle`);
    onPath.add(v);
    try {
      if (Array.isArray(v)) return { kind: 'array', items: v.map((x, i) => walk(x, `${path}[${i}]`)) };
      if (v instanceof Map) return { kind: 'map', keys: [...v.keys()], items: [...v.entries()].map(([k, x]) => walk(x, `${path}.get(${String(k)})`)) };
      if (v instanceof Set) throw new TreeError(`${path}: a Set has no order to rebuild; use an array`);
      if (isContainer(v)) return { kind: 'container', instance: v, inner: walk(v.tensors(), `${path}.tensors()`), path };
      if (isPlainObject(v)) {
        const keys = Object.keys(v);
        return { kind: 'object', keys, items: keys.map((k) => walk(v[k], `${path}.${k}`)), nullProto: Object.getPrototypeOf(v) === null };
      }
      children(v, path, {}); // throws if it hides tensors
      return { kind: 'static', value: v };
    } finally {
      onPath.delete(v);
    }
  };
  const def = walk(tree, root);
  return { leaves, def };
}

/** Rebuilds a tree of the structure `def` with `leaves` (in flatten order) in place of its tensors. */
export function unflatten<T = unknown>(def: TreeDef, leaves: readonly Tensor[]): T {
  let k = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case 'tensor': {
        if (k >= leaves.length) throw new TreeError(`unflatten: the structure has more tensors than the ${leaves.length} leaves given`);
        return leaves[k++];
      }
      case 'static': return d.value;
      case 'array': return d.items.map(build);
      case 'object': {
        const o: Record<string, unknown> = d.nullProto ? Object.create(null) as Record<string, unknown> : {};
        d.keys.forEach((key, i) => { o[key] = build(d.items[i]!); });
        return o;
      }
      case 'map': return new Map(d.keys.map((key, i) => [key, build(d.items[i]!)]));
      case 'container': {
        const inner = build(d.inner);
        if (!d.instance.withTensors) {
          throw new TreeError(`${d.path}: ${className(d.instance)} exposes tensors() but not withTensors(), so a tree holding it cannot be rebuilt`);
        }
        return d.instance.withTensors(inner);
      }
    }
  };
  const out = build(def);
  if (k !== leaves.length) throw new TreeError(`unflatten: the structure has ${k} tensors, ${leaves.length} leaves were given`);
  return out as T;
}

/** The same structure with every tensor replaced by fn(tensor, index in flatten order). */
export function mapTree<T>(tree: T, fn: (t: Tensor, i: number) => Tensor): T {
  const { leaves, def } = flatten(tree);
  return unflatten<T>(def, leaves.map(fn));
}

/**
 * [path, tensor] for every tensor, with dotted paths (`a.b.0`, Map keys as written) usable as checkpoint
 * keys.
 */
export function tensorPaths(tree: unknown, prefix = ''): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const onPath = new Set<object>();
  const walk = (v: unknown, path: string) => {
    if (typeof v !== 'object' || v === null) return;
    if (isTensor(v)) { out.push([path, v]); return; }
    if (onPath.has(v)) throw new TreeError(`${path || 'tree'}: the tree contains a cycle`);
    onPath.add(v);
    const join = (k: string) => (path ? `${path}.${k}` : k);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, join(String(i))));
    else if (v instanceof Map) for (const [k, x] of v) walk(x, join(String(k)));
    else if (isContainer(v)) walk(v.tensors(), path);
    else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) walk(x, join(k));
    else children(v, path || 'tree', {});
    onPath.delete(v);
  };
  walk(tree, prefix);
  return out;
}
