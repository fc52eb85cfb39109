/**
 * Elementwise binary ops with NumPy broadcasting, and the comparisons (float32 0/1 masks, no gradient).
 * Gradients of broadcast operands are summed back to their shapes (sumTo).
 */
import { defineOp, type AuditCase, type InputGen, type OpFn } from '../op.js';
import { empty } from '../create.js';
import { refBroadcast, refSumTo, type RefTensor } from '../ref/tensor.js';
import { broadcastShapes, broadcastStrides, sameShape, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runBinary, type BinaryKernelOp } from '../../kernels/elementwise.js';
import * as o from './index.js';
import { registerCaseAdapter } from '../case_adapters.js';

export function binaryForward(op: BinaryKernelOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const y = empty(a.device, shape);
  const contiguous = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  runBinary(a.device, op, a.storage.binding(), b.storage.binding(), y.storage.binding(), shape,
    [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)], contiguous);
  return y;
}

interface Row {
  f: (a: number, b: number) => number;
  /** Partial derivatives at (a, b) for the reference. */
  da: (a: number, b: number) => number;
  db: (a: number, b: number) => number;
  /** Backward: gradients with the output's shape (broadcast is undone by the caller). */
  grad: (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor, Tensor];
  gen?: [InputGen, InputGen];
}

const tie = (a: number, b: number) => (a === b ? 0.5 : 0);
const rows: Record<string, Row> = {
  add: { f: (a, b) => a + b, da: () => 1, db: () => 1, grad: (g) => [g, g] },
  sub: { f: (a, b) => a - b, da: () => 1, db: () => -1, grad: (g) => [g, o.neg(g)] },
  mul: { f: (a, b) => a * b, da: (_, b) => b, db: (a) => a, grad: (g, a, b) => [o.mul(g, b), o.mul(g, a)] },
  div: {
    f: (a, b) => a / b, da: (_, b) => 1 / b, db: (a, b) => -a / (b * b),
    grad: (g, _, b, y) => { const gb = o.div(g, b); return [gb, o.neg(o.mul(gb, y))]; },
    gen: ['normal', 'away'],
  },
  pow: {
    f: Math.pow, da: (a, b) => b * Math.pow(a, b - 1), db: (a, b) => (a === 0 && b >= 0 ? 0 : Math.pow(a, b) * Math.log(a)),
    // PyTorch's convention: d/db of 0^b is 0 for b >= 0 rather than 0 * log 0 = NaN.
    grad: (g, a, b, y) => [
      o.mul(g, o.mul(b, o.pow(a, o.sub(b, 1)))),
      o.where(o.mul(o.eq(a, 0), o.ge(b, 0)), 0, o.mul(g, o.mul(y, o.log(a)))),
    ],
    gen: ['positive', 'normal'],
  },
  // Ties share the gradient equally, as torch.minimum / torch.maximum do.
  minimum: {
    f: Math.min, da: (a, b) => (a < b ? 1 : tie(a, b)), db: (a, b) => (b < a ? 1 : tie(a, b)),
    grad: (g, a, b) => [o.mul(g, o.add(o.lt(a, b), o.mul(o.eq(a, b), 0.5))), o.mul(g, o.add(o.lt(b, a), o.mul(o.eq(a, b), 0.5)))],
    gen: ['distinct', 'distinct'],
  },
  maximum: {
    f: Math.max, da: (a, b) => (a > b ? 1 : tie(a, b)), db: (a, b) => (b > a ? 1 : tie(a, b)),
    grad: (g, a, b) => [o.mul(g, o.add(o.gt(a, b), o.mul(o.eq(a, b), 0.5))), o.mul(g, o.add(o.gt(b, a), o.mul(o.eq(a, b), 0.5)))],
    gen: ['distinct', 'distinct'],
  },
};

const SHAPES: Shape[][] = [[[5, 6], [5, 6]], [[3, 4], [4]], [[2, 1, 5], [3, 1]], [[4, 1], [1, 6]], [[], [2, 3]], [[1], [1]], [[33, 9], [33, 1]]];

function cases(name: string, gen: [InputGen, InputGen]): AuditCase<Record<string, never>>[] {
  return SHAPES.map((shapes) => ({ name: `${name} ${JSON.stringify(shapes)}`, shapes, attrs: {}, gen }));
}

function refShape(a: RefTensor, b: RefTensor): Shape {
  return broadcastShapes('reference', a.shape, b.shape);
}

function defineBinary(name: BinaryKernelOp, r: Row): OpFn<Record<string, never>> {
  return defineOp<Record<string, never>>({
    name,
    forward: ([a, b]) => binaryForward(name, a!, b!),
    inputs: ['a', 'b'],
    save: ['a', 'b', 'y'],
    backward: (g, ctx) => {
      const { a, b, y } = ctx.saved as { a: Tensor; b: Tensor; y: Tensor };
      const [ga, gb] = r.grad(g, a, b, y);
      return [ctx.needs[0] ? o.sumTo(ga, a.shape) : null, ctx.needs[1] ? o.sumTo(gb, b.shape) : null];
    },
    reference: {
      forward: ([a, b]) => refBroadcast([a!.shape, b!.shape], refShape(a!, b!), r.f, a!, b!),
      backward: ([a, b], _, y, g) => {
        const shapes = [a!.shape, b!.shape, g.shape];
        const ga = refBroadcast(shapes, y.shape, (u, v, w) => w * r.da(u, v), a!, b!, g);
        const gb = refBroadcast(shapes, y.shape, (u, v, w) => w * r.db(u, v), a!, b!, g);
        return [refSumTo(ga, a!.shape), refSumTo(gb, b!.shape)];
      },
    },
    audit: cases(name, r.gen ?? ['normal', 'normal']),
  });
}

export const binaryOps = Object.fromEntries(Object.entries(rows).map(([n, r]) => [n, defineBinary(n as BinaryKernelOp, r)])) as Record<keyof typeof rows, OpFn<Record<string, never>>>;

const comparisons: Record<string, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b, ne: (a, b) => a !== b, lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b,
};

export const comparisonOps = Object.fromEntries(Object.entries(comparisons).map(([n, f]) => [n, defineOp<Record<string, never>>({
  name: n,
  forward: ([a, b]) => binaryForward(n as BinaryKernelOp, a!, b!),
  reference: { forward: ([a, b]) => refBroadcast([a!.shape, b!.shape], refShape(a!, b!), (u, v) => Number(f(u, v)), a!, b!) },
  // 'mask' draws {0, 1} on both sides, so equal pairs occur.
  audit: cases(n, ['mask', 'mask']),
})])) as Record<keyof typeof comparisons, OpFn<Record<string, never>>>;

for (const name of Object.keys(rows)) registerCaseAdapter(name, (x) => ({ y: binaryOps[name]!([x.a!, x.b!], {}) }), { inputs: ['a', 'b'] });
for (const name of Object.keys(comparisons)) registerCaseAdapter(name, (x) => ({ y: comparisonOps[name]!([x.a!, x.b!], {}) }), { inputs: ['a', 'b'] });
