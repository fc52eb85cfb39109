/**
 * Reverse-mode autodiff on an eager tape. Each differentiable op applied to a tensor that requires grad
 * creates a Node holding what its backward needs (by name); an op may have several outputs, each a tensor
 * pointing at (node, output index). A node lives as long as some output tensor or a downstream node
 * refers to it (PyTorch's rule), so graphs of tensors disposed by a scope free themselves.
 * The backward walk is iterative (a K-step PGD unrolled is deep), accumulates fan-out gradients per node
 * output, checks every produced gradient's shape, and only runs a node's backward for inputs on a path to
 * a requested target (`needs`), so an attack asking for d loss / d x never computes weight gradients.
 * Targets may be leaves or intermediate tensors (torch.autograd.grad on non-leaves): an intermediate's
 * gradient is what has flowed into its node output once every consumer has run.
 */
import { scope, keep } from './scope.js';
import { fmt, sameShape, type Shape } from './shape.js';
import type { Tensor } from './tensor.js';
import { withOp } from './op_context.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording anything on the tape. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export interface BackwardContext<A> {
  /** The tensors the op saved, by the names in its `save` list; valid during backward only. */
  readonly saved: Readonly<Record<string, Tensor>>;
  /** needs[i]: input i's gradient is wanted; a backward may return null for the others. */
  readonly needs: readonly boolean[];
  readonly inputShapes: readonly Shape[];
  /** The first (for most ops the only) output's shape. */
  readonly outputShape: Shape;
  readonly outputShapes: readonly Shape[];
  readonly attrs: A;
}

/** Vector-Jacobian product of a single-output op: input gradients from the output's gradient g. */
export type BackwardFn<A> = (g: Tensor, ctx: BackwardContext<A>) => (Tensor | null)[];
/** The same for an op with several outputs: g holds each output's gradient by name, null where none flowed. */
export type MultiBackwardFn<A> = (g: Readonly<Record<string, Tensor | null>>, ctx: BackwardContext<A>) => (Tensor | null)[];
/** What a node runs: one gradient slot per output. */
export type NodeBackward = (gs: (Tensor | null)[], ctx: BackwardContext<unknown>) => (Tensor | null)[];

export class Node {
  refs = 0;
  freed = false;
  constructor(
    readonly op: string,
    /** Per input: the node that produced it (null for a leaf or a constant) and which of its outputs. */
    readonly parents: (Node | null)[],
    readonly parentOutputs: number[],
    /** Per input: the leaf tensor when it is a leaf that requires grad. */
    readonly leaves: (Tensor | null)[],
    readonly inputShapes: Shape[],
    readonly outputShapes: Shape[],
    private saved: Record<string, Tensor>,
    private readonly savedVersions: Record<string, number>,
    readonly backward: NodeBackward,
    readonly attrs: unknown,
  ) {
    for (const p of parents) if (p) p.refs++;
  }

  savedTensors(): Record<string, Tensor> {
    if (this.freed) throw new Error(`backward through '${this.op}' a second time: its saved tensors were freed by the first backward (pass retainGraph: true to the first)`);
    for (const [name, t] of Object.entries(this.saved)) {
      if (t.storage.version !== this.savedVersions[name]) {
        throw new Error(`'${this.op}': the tensor it saved as '${name}' for backward was modified in place after the forward`);
      }
    }
    return this.saved;
  }

  freeSaved(): void {
    for (const t of Object.values(this.saved)) t.dispose();
    this.saved = {};
    this.freed = true;
  }

  /** Drops one reference; nodes reaching zero free their saved tensors and release their parents. */
  unref(): void {
    const stack: Node[] = [this];
    while (stack.length) {
      const n = stack.pop()!;
      if (--n.refs > 0) continue;
      n.freeSaved();
      for (const p of n.parents) if (p) stack.push(p);
    }
  }
}

/** Records `outs = op(inputs)` when grad mode is on and some input requires grad. */
export function record<A>(op: string, inputs: readonly Tensor[], outs: readonly Tensor[], save: Readonly<Record<string, Tensor>>, backward: NodeBackward, attrs: A): void {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return;
  const saved: Record<string, Tensor> = {};
  const versions: Record<string, number> = {};
  for (const [name, t] of Object.entries(save)) {
    saved[name] = t.alias();
    versions[name] = t.storage.version;
  }
  const node = new Node(op, inputs.map((t) => t.node), inputs.map((t) => t.outputIndex), inputs.map((t) => (t.node ? null : t.requiresGrad ? t : null)),
    inputs.map((t) => t.shape), outs.map((t) => t.shape), saved, versions, backward, attrs);
  outs.forEach((t, i) => t.attachNode(node, i));
}

/** Nodes reachable from the roots, parents before children, without recursion. */
function topoOrder(roots: readonly Node[]): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  for (const root of roots) {
    if (seen.has(root)) continue;
    seen.add(root);
    const stack: [Node, number][] = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [n, i] = top;
      if (i < n.parents.length) {
        top[1]++;
        const p = n.parents[i];
        if (p && !seen.has(p)) { seen.add(p); stack.push([p, 0]); }
      } else {
        order.push(n);
        stack.pop();
      }
    }
  }
  return order;
}

type Add = (a: Tensor, b: Tensor) => Tensor;

/** slots[i] += g (g is consumed; the sum is kept out of scopes). */
function accumulateSlot(slots: (Tensor | null)[], i: number, g: Tensor, add: Add): void {
  const prev = slots[i];
  if (!prev) { slots[i] = keep(g); return; }
  slots[i] = keep(add(prev, g));
  prev.dispose();
  g.dispose();
}

function accumulate<K>(map: Map<K, Tensor>, key: K, g: Tensor, add: Add): void {
  const prev = map.get(key);
  if (!prev) { map.set(key, keep(g)); return; }
  map.set(key, keep(add(prev, g)));
  prev.dispose();
  g.dispose();
}

export interface BackwardOptions {
  /** Gradient of the root (default: ones; required shape = root's shape). */
  seed?: Tensor;
  /** Keep saved tensors so that another backward can run through the same graph. */
  retainGraph?: boolean;
}

export interface WalkOptions {
  /** The cotangent of each root (null: ones, for a one-element root). */
  seeds: (Tensor | null)[];
  /**
   * The tensors whose gradients are wanted: leaves or intermediates. Absent: every leaf that requires
   * grad (what Tensor.backward fills).
   */
  targets?: readonly Tensor[];
  retainGraph?: boolean;
}

export interface WalkResult {
  /** Gradient of every target reached (kept out of scopes: the caller owns them). */
  grads: Map<Tensor, Tensor>;
  /** Targets the roots depend on through the graph; a target reached without a gradient has a true zero. */
  reached: Set<Tensor>;
}

/**
 * Gradients of the roots (each seeded by its cotangent) with respect to the targets. `ops` injects the two
 * ops the walk needs, to keep this file free of kernels.
 */
export function backwardFrom(roots: readonly Tensor[], opts: WalkOptions, ops: { add: Add; onesLike: (t: Tensor) => Tensor }): WalkResult {
  roots.forEach((root, r) => {
    const seed = opts.seeds[r];
    if (seed && !sameShape(seed.shape, root.shape)) {
      throw new RangeError(`backward: seed shape ${fmt(seed.shape)} does not match the output shape ${fmt(root.shape)}`);
    }
    if (!root.requiresGrad) throw new Error('backward: the output does not require grad (no input on its path has requiresGrad)');
    if (!seed && root.size !== 1) throw new RangeError(`backward: the output has shape ${fmt(root.shape)}; pass a seed gradient of that shape for a non-scalar output`);
  });
  const leafGrads = new Map<Tensor, Tensor>();
  const reached = new Set<Tensor>();
  // Targets: leaves by identity; intermediates by the node output they are.
  const leafTargets = opts.targets ? new Set(opts.targets.filter((t) => !t.node)) : null;
  const outTargets = new Map<Node, Map<number, Tensor[]>>();
  for (const t of opts.targets ?? []) {
    if (!t.node) continue;
    let m = outTargets.get(t.node);
    if (!m) outTargets.set(t.node, (m = new Map()));
    m.set(t.outputIndex, [...(m.get(t.outputIndex) ?? []), t]);
  }
  const wantedLeaf = (t: Tensor) => (leafTargets ? leafTargets.has(t) : t.requiresGrad);
  noGrad(() => scope(() => {
    const grads = new Map<Node, (Tensor | null)[]>();
    const slotsOf = (n: Node) => {
      let s = grads.get(n);
      if (!s) grads.set(n, (s = n.outputShapes.map(() => null)));
      return s;
    };
    const rootNodes: Node[] = [];
    roots.forEach((root, r) => {
      // A seed handed in by the caller stays the caller's: the walk works on its own copy.
      const given = opts.seeds[r];
      const seed = keep(given ? given.clone() : ops.onesLike(root));
      if (!root.node) {
        if (wantedLeaf(root)) { reached.add(root); accumulate(leafGrads, root, seed, ops.add); } else seed.dispose();
        return;
      }
      rootNodes.push(root.node);
      accumulateSlot(slotsOf(root.node), root.outputIndex, seed, ops.add);
    });
    const order = topoOrder(rootNodes);
    // Which node outputs are consumed somewhere in this graph (or are a root): a target elsewhere is unused.
    const usedOutputs = new Map<Node, Set<number>>();
    const markUsed = (n: Node, i: number) => { let s = usedOutputs.get(n); if (!s) usedOutputs.set(n, (s = new Set())); s.add(i); };
    for (const root of roots) if (root.node) markUsed(root.node, root.outputIndex);
    const needed = new Set<Node>();
    const needs = new Map<Node, boolean[]>();
    for (const n of order) {
      const nd = n.parents.map((p, i) => {
        if (p) {
          markUsed(p, n.parentOutputs[i]!);
          return needed.has(p) || (outTargets.get(p)?.has(n.parentOutputs[i]!) ?? false);
        }
        const leaf = n.leaves[i];
        if (leaf && wantedLeaf(leaf)) { reached.add(leaf); return true; }
        return false;
      });
      needs.set(n, nd);
      if (nd.some(Boolean)) needed.add(n);
    }
    for (const [n, m] of outTargets) {
      const used = usedOutputs.get(n);
      for (const [i, ts] of m) if (used?.has(i)) for (const t of ts) reached.add(t);
    }
    for (let k = order.length - 1; k >= 0; k--) {
      const n = order[k]!;
      const gs = grads.get(n);
      grads.delete(n);
      if (!gs) continue;
      // Every consumer of n has run (reverse topological order): its output gradients are complete.
      const targetsHere = outTargets.get(n);
      if (targetsHere) {
        for (const [i, ts] of targetsHere) {
          const g = gs[i];
          if (g) for (const t of ts) leafGrads.set(t, keep(g.clone()));
        }
      }
      if (needed.has(n) && gs.some(Boolean)) {
        const nd = needs.get(n)!;
        scope(() => {
          const ctx: BackwardContext<unknown> = {
            saved: n.savedTensors(), needs: nd, inputShapes: n.inputShapes, outputShape: n.outputShapes[0]!, outputShapes: n.outputShapes, attrs: n.attrs,
          };
          const gins = withOp(`${n.op} (backward)`, () => n.backward(gs, ctx));
          if (gins.length !== n.parents.length) throw new Error(`backward of '${n.op}' returned ${gins.length} gradients for ${n.parents.length} inputs`);
          const seen = new Set<Tensor>(gs.filter((g): g is Tensor => g !== null));
          gins.forEach((gi, i) => {
            if (!nd[i] || !gi) return;
            // A backward may pass g through (add) or return one tensor twice (x + x): each use gets its own
            // handle on the storage, since accumulation disposes what it consumes.
            if (seen.has(gi)) gi = gi.alias();
            seen.add(gi);
            if (!sameShape(gi.shape, n.inputShapes[i]!)) {
              throw new Error(`backward of '${n.op}': gradient for input ${i} has shape ${fmt(gi.shape)}, expected ${fmt(n.inputShapes[i]!)}`);
            }
            const p = n.parents[i];
            if (p) accumulateSlot(slotsOf(p), n.parentOutputs[i]!, gi, ops.add);
            else accumulate(leafGrads, n.leaves[i]!, gi, ops.add);
          });
        });
      }
      for (const g of gs) g?.dispose();
      // Only a node whose backward ran is spent; one the walk merely passed keeps what it saved.
      if (!opts.retainGraph && needed.has(n)) n.freeSaved();
    }
    for (const gs of grads.values()) for (const g of gs) g?.dispose();
  }));
  return { grads: leafGrads, reached };
}
