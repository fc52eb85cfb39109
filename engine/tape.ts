/**
 * Reverse-mode autodiff on an eager tape. Each differentiable op applied to a tensor that requires grad
 * creates a Node holding what its backward needs; a node lives as long as some output tensor or a
 * downstream node refers to it (PyTorch's rule), so graphs of tensors disposed by a scope free themselves.
 * The backward walk is iterative (a K-step PGD unrolled is deep), accumulates fan-out gradients in a map,
 * checks every produced gradient's shape, and only runs a node's backward for inputs on a path to a
 * requested target (`needs`), so an attack asking for d loss / d x never computes weight gradients.
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
  /** Tensors the op asked to save (inputs then output), valid during backward only. */
  readonly saved: readonly Tensor[];
  /** needs[i]: input i's gradient is wanted; a backward may return null for the others. */
  readonly needs: readonly boolean[];
  readonly inputShapes: readonly Shape[];
  readonly outputShape: Shape;
  readonly attrs: A;
}

export type BackwardFn<A> = (g: Tensor, ctx: BackwardContext<A>) => (Tensor | null)[];

export class Node {
  refs = 0;
  freed = false;
  constructor(
    readonly op: string,
    readonly parents: (Node | null)[],
    readonly leaves: (Tensor | null)[],
    readonly inputShapes: Shape[],
    readonly outputShape: Shape,
    private saved: Tensor[],
    private readonly savedVersions: number[],
    readonly backward: BackwardFn<unknown>,
    readonly attrs: unknown,
  ) {
    for (const p of parents) if (p) p.refs++;
  }

  savedTensors(): Tensor[] {
    if (this.freed) throw new Error(`backward through '${this.op}' a second time: its saved tensors were freed by the first backward`);
    this.saved.forEach((t, i) => {
      if (t.storage.version !== this.savedVersions[i]) {
        throw new Error(`'${this.op}': a tensor saved for backward was modified in place after the forward`);
      }
    });
    return this.saved;
  }

  freeSaved(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
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

/** Records `out = op(inputs)` when grad mode is on and some input requires grad. */
export function record<A>(op: string, inputs: readonly Tensor[], out: Tensor, save: readonly Tensor[], backward: BackwardFn<A>, attrs: A): void {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return;
  const saved = save.map((t) => t.alias());
  const node = new Node(op, inputs.map((t) => t.node), inputs.map((t) => (t.node ? null : t.requiresGrad ? t : null)),
    inputs.map((t) => t.shape), out.shape, saved, saved.map((t) => t.storage.version), backward as BackwardFn<unknown>, attrs);
  out.attachNode(node);
}

/** Nodes reachable from root, parents before children, without recursion. */
function topoOrder(root: Node): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>([root]);
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
  return order;
}

function accumulate<K>(map: Map<K, Tensor>, key: K, g: Tensor, add: (a: Tensor, b: Tensor) => Tensor): void {
  const prev = map.get(key);
  if (!prev) { map.set(key, keep(g)); return; }
  map.set(key, keep(add(prev, g)));
  prev.dispose();
  g.dispose();
}

export interface BackwardOptions {
  /** Gradient of the root (default: ones; required shape = root's shape). */
  seed?: Tensor;
  /** Only these leaves get gradients (default: every leaf that requires grad). */
  targets?: ReadonlySet<Tensor>;
  /** Keep saved tensors so that another backward can run through the same graph. */
  retainGraph?: boolean;
}

/**
 * Gradients of `root` with respect to the leaves. Returns a map leaf -> gradient (kept out of scopes:
 * the caller owns them). `ops` injects the two ops the walk needs, to keep this file free of kernels.
 */
export function backwardFrom(root: Tensor, opts: BackwardOptions, ops: { add: (a: Tensor, b: Tensor) => Tensor; onesLike: (t: Tensor) => Tensor }): Map<Tensor, Tensor> {
  const leafGrads = new Map<Tensor, Tensor>();
  if (opts.seed && !sameShape(opts.seed.shape, root.shape)) {
    throw new RangeError(`backward: seed shape ${fmt(opts.seed.shape)} does not match the output shape ${fmt(root.shape)}`);
  }
  if (!root.requiresGrad) throw new Error('backward: the output does not require grad (no input on its path has requiresGrad)');
  if (!opts.seed && root.size !== 1) throw new RangeError(`backward: the output has shape ${fmt(root.shape)}; pass a seed gradient of that shape for a non-scalar output`);
  const wanted = (t: Tensor) => !opts.targets || opts.targets.has(t);
  noGrad(() => scope(() => {
    const seed = opts.seed ?? ops.onesLike(root);
    if (!root.node) {
      if (wanted(root)) leafGrads.set(root, keep(opts.seed ? seed.clone() : seed));
      return;
    }
    const order = topoOrder(root.node);
    const needed = new Set<Node>();
    const needs = new Map<Node, boolean[]>();
    for (const n of order) {
      const nd = n.parents.map((p, i) => (p ? needed.has(p) : n.leaves[i] !== null && wanted(n.leaves[i]!)));
      needs.set(n, nd);
      if (nd.some(Boolean)) needed.add(n);
    }
    const grads = new Map<Node, Tensor>();
    // A seed handed in by the caller stays the caller's: the walk works on its own copy.
    grads.set(root.node, keep(opts.seed ? seed.clone() : seed));
    for (let k = order.length - 1; k >= 0; k--) {
      const n = order[k]!;
      const g = grads.get(n);
      grads.delete(n);
      if (!g) continue;
      if (needed.has(n)) {
        const nd = needs.get(n)!;
        scope(() => {
          const ctx: BackwardContext<unknown> = { saved: n.savedTensors(), needs: nd, inputShapes: n.inputShapes, outputShape: n.outputShape, attrs: n.attrs };
          const gins = withOp(`${n.op} (backward)`, () => n.backward(g, ctx));
          const seen = new Set<Tensor>([g]);
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
            if (p) accumulate(grads, p, gi, ops.add);
            else accumulate(leafGrads, n.leaves[i]!, gi, ops.add);
          });
        });
      }
      g.dispose();
      if (!opts.retainGraph) n.freeSaved();
    }
  }));
  return leafGrads;
}

