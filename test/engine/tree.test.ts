/**
 * Tensor trees: scope/keep see tensors in class instances (TensorContainer), Maps, Sets and trees of any
 * depth; a tensor hidden where the walker cannot see it is an error naming its path, never a silent
 * disposal; flatten/unflatten round-trip every container kind; grad/valueAndGrad take trees.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import { keep, scope } from '../../engine/scope.js';
import { disposeTree, flatten, mapTree, tensorPaths, treeTensors, unflatten, TreeError, type TensorContainer } from '../../engine/tree.js';
import type { Tensor } from '../../engine/tensor.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();
const live = () => dev().stats().liveTensors;

class Pair implements TensorContainer {
  constructor(readonly a: Tensor, readonly b: Tensor, readonly label = 'pair') {}
  tensors() { return [this.a, this.b]; }
  withTensors([a, b]: Tensor[]) { return new Pair(a!, b!, this.label); }
}

/** Holds a tensor but does not say so. */
class Opaque {
  constructor(readonly inner: { t: Tensor }) {}
}

async function values(ts: Tensor[]): Promise<number[][]> {
  const out: number[][] = [];
  for (const t of ts) out.push(Array.from(await t.read()));
  return out;
}

describe('scope keeps what its result holds', () => {
  it('a class instance exposing tensors(): both tensors survive, temporaries are freed', async () => {
    const before = live();
    const p = scope(() => {
      const x = tensor([1, 2, 3]);
      const tmp = o.mul(x, 10);
      return new Pair(o.add(tmp, 1), o.neg(x));
    });
    expect(live() - before, 'exactly the two returned tensors stay').toBe(2);
    expect(await values([p.a, p.b])).toEqual([[11, 21, 31], [-1, -2, -3]]);
    disposeTree(p);
    expect(live()).toBe(before);
  });

  it('a Map of arrays, and a Set', async () => {
    const before = live();
    const r = scope(() => {
      const m = new Map<string, Tensor[]>([['u', [tensor([1]), tensor([2])]], ['v', [tensor([3])]]]);
      return { m, s: new Set([tensor([4])]) };
    });
    expect(live() - before).toBe(4);
    expect(await values([...r.m.get('u')!, ...r.m.get('v')!, ...r.s])).toEqual([[1], [2], [3], [4]]);
    disposeTree(r);
    expect(live()).toBe(before);
  });

  it('a 6-level tree (the old walker stopped at 4 and disposed the rest)', async () => {
    const before = live();
    const deep = scope(() => {
      o.mul(tensor([7]), 2); // a temporary
      return { l1: [{ l3: new Map([['l4', [{ l6: tensor([6]) }]]]) }], top: tensor([1]) };
    });
    expect(live() - before).toBe(2);
    const leaf = deep.l1[0]!.l3.get('l4')![0]!.l6;
    expect(leaf.disposed).toBe(false);
    expect(await values([leaf, deep.top])).toEqual([[6], [1]]);
    disposeTree(deep);
    expect(live()).toBe(before);
  });

  it('a shared subtree and a cycle are walked once', () => {
    const before = live();
    const r = scope(() => {
      const t = tensor([1]);
      const node: { t: Tensor; self?: unknown; again?: Tensor } = { t, again: t };
      node.self = node;
      return node;
    });
    expect(live() - before).toBe(1);
    r.t.dispose();
  });

  it('a tensor hidden in an opaque class instance is an error naming the path and class; nothing leaks', () => {
    const before = live();
    expect(() => scope(() => ({ box: new Opaque({ t: tensor([1]) }) }))).toThrow(
      /scope result\.box\.inner\.t is a tensor inside a Opaque instance .*implement tensors\(\) on Opaque/);
    expect(live()).toBe(before);
  });

  it('an opaque instance holding no tensor of the scope is a static value', () => {
    const outside = tensor([5]);
    const r = scope(() => ({ cfg: new Opaque({ t: outside }), y: o.mul(outside, 2) }));
    expect(r.cfg.inner.t).toBe(outside);
    expect(outside.disposed).toBe(false);
    r.y.dispose();
    outside.dispose();
  });

  it('keep(tree) takes a whole tree out of every open scope', () => {
    const before = live();
    let kept: { a: Tensor[]; p: Pair } | null = null;
    scope(() => {
      kept = keep({ a: [tensor([1]), tensor([2])], p: new Pair(tensor([3]), tensor([4])) });
      tensor([0]);
    });
    expect(live() - before).toBe(4);
    disposeTree(kept);
    expect(live()).toBe(before);
  });
});

describe('flatten / unflatten', () => {
  it('round-trip arrays, objects, Maps, containers and static leaves, in a stated order', async () => {
    const [a, b, c, d] = [tensor([1]), tensor([2]), tensor([3]), tensor([4])];
    const tree = { lr: 0.1, name: 'net', layers: [a, { w: b, nothing: null }], m: new Map([['k', c]]), p: new Pair(d, a) };
    const { leaves, def } = flatten(tree);
    expect(leaves).toEqual([a, b, c, d, a]);
    const twice = mapTree(tree, (t) => o.mul(t, 2));
    expect(twice.lr).toBe(0.1);
    expect(twice.name).toBe('net');
    expect(twice.layers[1]).toHaveProperty('nothing', null);
    expect(twice.p).toBeInstanceOf(Pair);
    expect(await values(treeTensors(twice))).toEqual([[2], [4], [6], [8], [2]]);
    expect(tensorPaths(tree).map(([p]) => p)).toEqual(['layers.0', 'layers.1.w', 'm.k', 'p.0', 'p.1']);
    expect(() => unflatten(def, leaves.slice(1))).toThrow(/more tensors than the 4 leaves given/);
    disposeTree([twice, a, b, c, d]);
  });

  it('refuses cycles, Sets, and containers it cannot rebuild, naming the path', () => {
    const t = tensor([1]);
    const cyc: { t: Tensor; me?: unknown } = { t };
    cyc.me = cyc;
    expect(() => flatten(cyc)).toThrow(/tree\.me: the tree contains a cycle/);
    expect(() => flatten({ s: new Set([t]) })).toThrow(/tree\.s: a Set has no order to rebuild/);
    const bare: TensorContainer = { tensors: () => [t] };
    Object.setPrototypeOf(bare, class Bare {}.prototype);
    const { leaves, def } = flatten({ bare });
    expect(() => unflatten(def, leaves)).toThrow(/tree\.bare: Bare exposes tensors\(\) but not withTensors\(\)/);
    expect(() => flatten([new Opaque({ t })])).toThrow(TreeError);
    t.dispose();
  });
});

describe('grad with respect to a tree', () => {
  it('an object of tensors: the gradients come back in the same structure', async () => {
    const before = live();
    const params = { w: tensor([1, 2, 3]), b: tensor([0.5]), meta: 'static' };
    const x = tensor([2, 0, -1]);
    const { value, grads } = o.valueAndGrad((p) => o.sum(o.square(o.add(o.mul(p.w, x), p.b))), params);
    // f = sum((w x + b)^2): df/dw = 2 (w x + b) x, df/db = 2 sum(w x + b).
    const r = [1 * 2 + 0.5, 0.5, -3 + 0.5];
    expectClose(await grads.w.read(), r.map((v, i) => 2 * v * [2, 0, -1][i]!));
    expectClose(await grads.b.read(), [2 * r.reduce((s, v) => s + v, 0)]);
    expect(grads.meta).toBe('static');
    expectClose([await value.item()], [r.reduce((s, v) => s + v * v, 0)]);
    disposeTree([value, grads, params, x]);
    expect(live()).toBe(before);
  });

  it('a Map and a TensorContainer', async () => {
    const m = new Map([['u', tensor([3])], ['v', tensor([4])]]);
    const gm = o.grad((t) => o.mul(t.get('u')!, t.get('v')!), m);
    expect(gm).toBeInstanceOf(Map);
    expect(await values([gm.get('u')!, gm.get('v')!])).toEqual([[4], [3]]);
    const p = new Pair(tensor([2]), tensor([5]));
    const gp = o.grad((q) => o.sum(o.mul(q.a, o.square(q.b))), p);
    expect(gp).toBeInstanceOf(Pair);
    expect(await values([gp.a, gp.b])).toEqual([[25], [20]]);
    disposeTree([m, gm, p, gp]);
  });

  it('the same tensor twice gets the same gradient in both places, as separate handles', async () => {
    const x = tensor([3]);
    const [g1, g2] = o.grad((a) => o.square(a), [x, x] as unknown as [Tensor]) as unknown as Tensor[];
    expect(await values([g1!, g2!])).toEqual([[6], [6]]);
    g1!.dispose();
    expect(await g2!.read()).toEqual(new Float32Array([6]));
    disposeTree([g2, x]);
  });

  it('refuses an int32 input, naming it', () => {
    const y = tensor(new Int32Array([1]));
    expect(() => o.grad((t) => o.sum(t.x), { x: tensor([1]), y })).toThrow(/inputs\.y .*int32.* is not float32/);
  });
});
