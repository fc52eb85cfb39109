/**
 * The functional op API (also behind the Tensor methods). Numbers are accepted where PyTorch accepts
 * Python scalars: they become kernel scalars (scale_shift, pow_scalar, clamp) instead of uploaded tensors
 * wherever the math allows.
 */
import { full, zeros, zerosLike, onesLike } from '../create.js';
import { sameShape, type Shape } from '../shape.js';
import { scope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { unaryOps, inRangeOp } from './unary.js';
import { binaryOps, comparisonOps } from './binary.js';
import { whereOp } from './where.js';
import { sumOp, meanOp, maxOp, minOp, argmaxOp, argminOp } from './reduce.js';
import { varianceOp } from './variance.js';
export { varMean } from './variance.js';
import { matmulOp } from './matmul.js';
import { reshapeOp, permuteOp, transposeOp, sliceOp, concatOp, broadcastToOp, cloneOp } from './movement.js';

export { zeros, zerosLike, onesLike };
type Num = Tensor | number;

const scalarLike = (like: Tensor, v: number): Tensor => full([], v, { device: like.device });
const asTensor = (x: Num, like: Tensor): Tensor => (typeof x === 'number' ? scalarLike(like, x) : x);

function pair(op: string, a: Num, b: Num): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError(`${op}: at least one argument must be a tensor`);
  const like = (typeof a === 'number' ? b : a) as Tensor;
  return [asTensor(a, like), asTensor(b, like)];
}

/** fn on (a, b) with numbers made scalar tensors inside a scope, so they are not leaked to the caller (a node that saved one keeps its storage). */
function onPair(op: string, a: Num, b: Num, fn: (ab: [Tensor, Tensor]) => Tensor): Tensor {
  if (typeof a !== 'number' && typeof b !== 'number') return fn([a, b]);
  return scope(() => fn(pair(op, a, b)));
}

export const scaleShift = (x: Tensor, scale: number, shift: number): Tensor => unaryOps.scale_shift([x], { scale, shift });
export const powScalar = (x: Tensor, exponent: number): Tensor => unaryOps.pow_scalar([x], { exponent });
export const clamp = (x: Tensor, min: number | null, max: number | null): Tensor => unaryOps.clamp([x], { min, max });
export const inRange = (x: Tensor, lo: number, hi: number): Tensor => inRangeOp([x], { lo, hi });

export const neg = (x: Tensor): Tensor => unaryOps.neg([x], {});
export const exp = (x: Tensor): Tensor => unaryOps.exp([x], {});
export const log = (x: Tensor): Tensor => unaryOps.log([x], {});
export const sqrt = (x: Tensor): Tensor => unaryOps.sqrt([x], {});
export const abs = (x: Tensor): Tensor => unaryOps.abs([x], {});
export const sign = (x: Tensor): Tensor => unaryOps.sign([x], {});
export const square = (x: Tensor): Tensor => unaryOps.square([x], {});
export const reciprocal = (x: Tensor): Tensor => unaryOps.reciprocal([x], {});

export function add(a: Num, b: Num): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return scaleShift(a, 1, b);
  if (typeof a === 'number' && typeof b !== 'number') return scaleShift(b, 1, a);
  return onPair('add', a, b, (p) => binaryOps.add(p, {}));
}
export function sub(a: Num, b: Num): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return scaleShift(a, 1, -b);
  if (typeof a === 'number' && typeof b !== 'number') return scaleShift(b, -1, a);
  return onPair('sub', a, b, (p) => binaryOps.sub(p, {}));
}
export function mul(a: Num, b: Num): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return scaleShift(a, b, 0);
  if (typeof a === 'number' && typeof b !== 'number') return scaleShift(b, a, 0);
  return onPair('mul', a, b, (p) => binaryOps.mul(p, {}));
}
export function div(a: Num, b: Num): Tensor {
  // x / c is computed as the true division, like PyTorch, not as x * (1/c).
  return onPair('div', a, b, (p) => binaryOps.div(p, {}));
}
export function pow(a: Num, b: Num): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') return powScalar(a, b);
  return onPair('pow', a, b, (p) => binaryOps.pow(p, {}));
}
export function minimum(a: Num, b: Num): Tensor {
  return onPair('minimum', a, b, (p) => binaryOps.minimum(p, {}));
}
export function maximum(a: Num, b: Num): Tensor {
  return onPair('maximum', a, b, (p) => binaryOps.maximum(p, {}));
}
export const eq = (a: Num, b: Num): Tensor => onPair('eq', a, b, (p) => comparisonOps.eq(p, {}));
export const ne = (a: Num, b: Num): Tensor => onPair('ne', a, b, (p) => comparisonOps.ne(p, {}));
export const lt = (a: Num, b: Num): Tensor => onPair('lt', a, b, (p) => comparisonOps.lt(p, {}));
export const le = (a: Num, b: Num): Tensor => onPair('le', a, b, (p) => comparisonOps.le(p, {}));
export const gt = (a: Num, b: Num): Tensor => onPair('gt', a, b, (p) => comparisonOps.gt(p, {}));
export const ge = (a: Num, b: Num): Tensor => onPair('ge', a, b, (p) => comparisonOps.ge(p, {}));

/** a where cond != 0, else b (all broadcast). */
export function where(cond: Tensor, a: Num, b: Num): Tensor {
  const f = () => whereOp([cond, asTensor(a, cond), asTensor(b, cond)], {});
  return typeof a === 'number' || typeof b === 'number' ? scope(f) : f();
}

const axesArg = (axes: number | number[] | undefined): number[] | undefined => (axes === undefined ? undefined : typeof axes === 'number' ? [axes] : axes);
export const sum = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => sumOp([x], { axes: axesArg(axes), keepDims });
export const mean = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => meanOp([x], { axes: axesArg(axes), keepDims });
export const max = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => maxOp([x], { axes: axesArg(axes), keepDims });
export const min = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => minOp([x], { axes: axesArg(axes), keepDims });
export const argmax = (x: Tensor, axis: number, keepDims = false): Tensor => argmaxOp([x], { axis, keepDims });
export const argmin = (x: Tensor, axis: number, keepDims = false): Tensor => argminOp([x], { axis, keepDims });
/** Variance with Bessel's correction by default (correction: 1), as torch.var. */
export const variance = (x: Tensor, axes?: number | number[], opts: { keepDims?: boolean; correction?: number } = {}): Tensor =>
  varianceOp([x], { axes: axesArg(axes), keepDims: opts.keepDims ?? false, correction: opts.correction ?? 1 });

export const matmul = (a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor => matmulOp([a, b], opts);

export const reshape = (x: Tensor, shape: readonly number[]): Tensor => reshapeOp([x], { shape: [...shape] });
export const flatten = (x: Tensor, startDim = 0): Tensor => reshape(x, [...x.shape.slice(0, startDim), -1]);
export const permute = (x: Tensor, dims: readonly number[]): Tensor => permuteOp([x], { dims: [...dims] });
export const transpose = (x: Tensor, dim0 = -2, dim1 = -1): Tensor => transposeOp([x], { dim0, dim1 });
/** Elements start..end-1 along dim (negative indices count from the end; end defaults to the dim's size). */
export const slice = (x: Tensor, dim: number, start: number, end?: number): Tensor =>
  sliceOp([x], { dim, start, end: end ?? x.shape[dim < 0 ? dim + x.rank : dim] ?? 0 });
export const concat = (xs: Tensor[], dim = 0): Tensor => concatOp(xs, { dim });
export const broadcastTo = (x: Tensor, shape: readonly number[]): Tensor => (sameShape(x.shape, shape) ? x : broadcastToOp([x], { shape: [...shape] }));
export const clone = (x: Tensor): Tensor => cloneOp([x], {});

/** Sums g down to `shape` (undoes broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes = [...g.shape.keys()].filter((i) => i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1));
  return reshape(sum(g, axes, true), shape);
}

export { backward, grad, valueAndGrad, gradOf } from '../autodiff.js';
export type { GradOptions } from '../autodiff.js';

export * from './conv2d.js';
export * from './pgd_step.js';
export * from './dropout.js';
export * from './activation.js';
export * from './losses.js';
export * from './batch_norm.js';
export * from './pool.js';
export * from './topk.js';
export * from './indexing.js';
export * from './masked_select.js';
export * from './weighted_sum.js';
export * from './attack_losses.js';
export * from './cast.js';
export * from './square_attack.js';
export * from './fab_projection.js';
export * from './fab_step.js';
export * from './fab_update.js';
