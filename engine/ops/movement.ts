/**
 * Movement ops. reshape is a view (shared storage); permute, slice, concat and broadcast_to copy through
 * the one strided-copy kernel, which moves 32-bit words and so serves every dtype, except where a copy moves
 * a whole buffer in order (after size-1 dims are dropped): that is a plain buffer-to-buffer copy.
 */
import { defineOp } from '../op.js';
import { empty } from '../create.js';
import { ref, refSumTo, type RefTensor } from '../ref/tensor.js';
import { broadcastShapes, checkShape, fmt, sameShape, sizeOf, stridesOf, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { isPlainCopy, runCopy, type StridedView } from '../../kernels/copy.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

/** Resolves one -1 and checks the element count. */
export function resolveShape(from: Shape, to: readonly number[]): number[] {
  const n = sizeOf(from);
  const free = to.filter((d) => d === -1).length;
  if (free > 1) throw new RangeError(`reshape: at most one -1 in ${fmt(to)}`);
  const known = sizeOf(to.filter((d) => d !== -1));
  if (free === 1 && known === 0) throw new RangeError(`reshape: cannot infer -1 in ${fmt(to)} for ${fmt(from)}: the other dims have 0 elements`);
  if (free === 1 && n % known !== 0) throw new RangeError(`reshape: cannot reshape ${fmt(from)} (${n} elements) to ${fmt(to)}`);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d));
  checkShape(out, 'reshape: shape');
  if (sizeOf(out) !== n) throw new RangeError(`reshape: cannot reshape ${fmt(from)} (${n} elements) to ${fmt(to)}`);
  return out;
}

export const reshapeOp = defineOp<{ shape: number[] }>({
  name: 'reshape',
  anyDType: true,
  halfInputs: true,
  forward: ([x], a) => new Tensor(x!.storage.retain(), resolveShape(x!.shape, a.shape), x!.dtype),
  backward: (g, ctx) => [o.reshape(g, ctx.inputShapes[0]!)],
  reference: {
    forward: ([x], a) => ref(resolveShape(x!.shape, a.shape), x!.data),
    backward: ([x], _, __, g) => [ref(x!.shape, g.data)],
  },
  audit: [
    { name: 'reshape [2,3,4]->[6,4]', shapes: [[2, 3, 4]], attrs: { shape: [6, 4] } },
    { name: 'reshape [12]->[3,-1]', shapes: [[12]], attrs: { shape: [3, -1] } },
    { name: 'reshape [1]->[]', shapes: [[1]], attrs: { shape: [] } },
  ],
});

function checkPerm(dims: readonly number[], rank: number): number[] {
  const d = dims.map((x) => (x < 0 ? x + rank : x));
  if (d.length !== rank || new Set(d).size !== rank || d.some((x) => x < 0 || x >= rank)) {
    throw new RangeError(`permute: dims ${JSON.stringify(dims)} are not a permutation of ${rank} axes`);
  }
  return d;
}

/** dst's view of `shape` = src's view; a plain buffer copy where both views are the whole buffer in order. */
function copyView(src: Tensor, srcView: StridedView, dst: Tensor, dstView: StridedView, shape: Shape): void {
  if (isPlainCopy(srcView, dstView, shape)) src.device.copyBuffer(src.storage.buffer, dst.storage.buffer, sizeOf(shape) * 4);
  else runCopy(src.device, src.storage.binding(), srcView, dst.storage.binding(), dstView, shape);
}

function permuteForward(x: Tensor, dims: number[]): Tensor {
  const st = stridesOf(x.shape);
  const shape = dims.map((d) => x.shape[d]!);
  const y = empty(x.device, shape, x.dtype);
  copyView(x, { offset: 0, strides: dims.map((d) => st[d]!) }, y, { offset: 0, strides: stridesOf(shape) }, shape);
  return y;
}

function refPermute(x: RefTensor, dims: number[]): RefTensor {
  const st = stridesOf(x.shape);
  const shape = dims.map((d) => x.shape[d]!);
  const y = ref(shape);
  const ost = stridesOf(shape);
  for (let i = 0; i < y.data.length; i++) {
    let src = 0;
    dims.forEach((d, k) => { src += (Math.floor(i / ost[k]!) % shape[k]!) * st[d]!; });
    y.data[i] = x.data[src]!;
  }
  return y;
}

const inverse = (dims: number[]) => dims.map((_, i) => dims.indexOf(i));

export const permuteOp = defineOp<{ dims: number[] }>({
  name: 'permute',
  anyDType: true,
  forward: ([x], a) => permuteForward(x!, checkPerm(a.dims, x!.rank)),
  backward: (g, ctx) => [o.permute(g, inverse(checkPerm(ctx.attrs.dims, g.rank)))],
  reference: {
    forward: ([x], a) => refPermute(x!, checkPerm(a.dims, x!.shape.length)),
    backward: ([x], a, _, g) => [refPermute(g, inverse(checkPerm(a.dims, x!.shape.length)))],
  },
  audit: [
    { name: 'permute [2,3,4] (2,0,1)', shapes: [[2, 3, 4]], attrs: { dims: [2, 0, 1] } },
    { name: 'permute [5,7] (1,0)', shapes: [[5, 7]], attrs: { dims: [1, 0] } },
    { name: 'permute [2,1,3,2] (3,1,0,2)', shapes: [[2, 1, 3, 2]], attrs: { dims: [3, 1, 0, 2] } },
    // The copy kernel coalesces dims: (0,1) merge, leaving rank 3 with a strided inner dim of 11.
    { name: 'permute [2,3,11,5] (0,1,3,2)', shapes: [[2, 3, 11, 5]], attrs: { dims: [0, 1, 3, 2] } },
    // Only size-1 dims move: the whole buffer in order, a plain buffer copy.
    { name: 'permute [3,1,4,1] (1,0,3,2)', shapes: [[3, 1, 4, 1]], attrs: { dims: [1, 0, 3, 2] } },
  ],
});

export const transposeOp = defineOp<{ dim0: number; dim1: number }>({
  name: 'transpose',
  composite: true,
  anyDType: true,
  forward: ([x], a) => o.permute(x!, transposePerm(x!.rank, a.dim0, a.dim1)),
  reference: {
    forward: ([x], a) => refPermute(x!, transposePerm(x!.shape.length, a.dim0, a.dim1)),
    backward: ([x], a, _, g) => [refPermute(g, transposePerm(x!.shape.length, a.dim0, a.dim1))],
  },
  audit: [{ name: 'transpose [3,4,5] 0,2', shapes: [[3, 4, 5]], attrs: { dim0: 0, dim1: 2 } }, { name: 'transpose [4,6] -2,-1', shapes: [[4, 6]], attrs: { dim0: -2, dim1: -1 } }],
});

function transposePerm(rank: number, d0: number, d1: number): number[] {
  const p = [...Array(rank).keys()];
  const a = d0 < 0 ? d0 + rank : d0;
  const b = d1 < 0 ? d1 + rank : d1;
  if (a < 0 || a >= rank || b < 0 || b >= rank) throw new RangeError(`transpose: dims ${d0}, ${d1} out of range for rank ${rank}`);
  [p[a], p[b]] = [p[b]!, p[a]!];
  return p;
}

export interface SliceAttrs { dim: number; start: number; end: number }

function sliceRange(shape: Shape, a: SliceAttrs): { dim: number; start: number; end: number } {
  const rank = shape.length;
  const dim = a.dim < 0 ? a.dim + rank : a.dim;
  if (dim < 0 || dim >= rank) throw new RangeError(`slice: dim ${a.dim} out of range for shape ${fmt(shape)}`);
  const n = shape[dim]!;
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const start = clampIdx(a.start);
  const end = Math.max(start, clampIdx(a.end));
  return { dim, start, end };
}

/** Copies x into the region [start, end) of `dim` of y (or y's region into x when `into` is false). */
function regionCopy(src: Tensor, dst: Tensor, dim: number, start: number, fromRegion: boolean): void {
  const big = fromRegion ? src : dst;
  const small = fromRegion ? dst : src;
  const bigStrides = stridesOf(big.shape);
  const region = { offset: start * bigStrides[dim]!, strides: bigStrides };
  const plain = { offset: 0, strides: stridesOf(small.shape) };
  copyView(src, fromRegion ? region : plain, dst, fromRegion ? plain : region, small.shape);
}

export const sliceOp = defineOp<SliceAttrs>({
  name: 'slice',
  anyDType: true,
  forward: ([x], a) => {
    const { dim, start, end } = sliceRange(x!.shape, a);
    const y = empty(x!.device, x!.shape.map((d, i) => (i === dim ? end - start : d)), x!.dtype);
    regionCopy(x!, y, dim, start, true);
    return y;
  },
  backward: (g, ctx) => {
    const { dim, start } = sliceRange(ctx.inputShapes[0]!, ctx.attrs);
    const gx = o.zeros(ctx.inputShapes[0]!, { device: g.device });
    regionCopy(g, gx, dim, start, false);
    return [gx];
  },
  reference: {
    forward: ([x], a) => {
      const { dim, start, end } = sliceRange(x!.shape, a);
      return refRegion(x!, dim, start, end);
    },
    backward: ([x], a, _, g) => {
      const { dim, start } = sliceRange(x!.shape, a);
      const gx = ref(x!.shape);
      refPlace(gx, g, dim, start);
      return [gx];
    },
  },
  audit: [
    { name: 'slice [5,4] dim 0 1:4', shapes: [[5, 4]], attrs: { dim: 0, start: 1, end: 4 } },
    { name: 'slice [3,7,2] dim 1 2:7', shapes: [[3, 7, 2]], attrs: { dim: 1, start: 2, end: 7 } },
    { name: 'slice [6] -3:', shapes: [[6]], attrs: { dim: 0, start: -3, end: 6 } },
    { name: 'slice [3,21] dim 1 1:20', shapes: [[3, 21]], attrs: { dim: 1, start: 1, end: 20 } },
    { name: 'slice [4,3,2] dim 0 0:2', shapes: [[4, 3, 2]], attrs: { dim: 0, start: 0, end: 2 } },
  ],
});

function refRegion(x: RefTensor, dim: number, start: number, end: number): RefTensor {
  const shape = x.shape.map((d, i) => (i === dim ? end - start : d));
  const y = ref(shape);
  const st = stridesOf(x.shape);
  const ost = stridesOf(shape);
  for (let i = 0; i < y.data.length; i++) {
    let src = 0;
    shape.forEach((d, k) => { src += ((Math.floor(i / ost[k]!) % d) + (k === dim ? start : 0)) * st[k]!; });
    y.data[i] = x.data[src]!;
  }
  return y;
}

function refPlace(dst: RefTensor, part: RefTensor, dim: number, start: number): void {
  const st = stridesOf(dst.shape);
  const pst = stridesOf(part.shape);
  for (let i = 0; i < part.data.length; i++) {
    let off = 0;
    part.shape.forEach((d, k) => { off += ((Math.floor(i / pst[k]!) % d) + (k === dim ? start : 0)) * st[k]!; });
    dst.data[off] = part.data[i]!;
  }
}

export const concatOp = defineOp<{ dim: number }>({
  name: 'concat',
  anyDType: true,
  forward: (xs, a) => {
    const { shape, dim, starts } = concatPlan(xs.map((x) => x.shape), a.dim);
    if (xs.some((x) => x.dtype !== xs[0]!.dtype)) throw new TypeError(`concat: inputs have different dtypes (${xs.map((x) => x.dtype).join(', ')})`);
    const y = empty(xs[0]!.device, shape, xs[0]!.dtype);
    xs.forEach((x, i) => regionCopy(x, y, dim, starts[i]!, false));
    return y;
  },
  backward: (g, ctx) => {
    const { dim, starts } = concatPlan(ctx.inputShapes, ctx.attrs.dim);
    return ctx.inputShapes.map((s, i) => (ctx.needs[i] ? o.slice(g, dim, starts[i]!, starts[i]! + s[dim]!) : null));
  },
  reference: {
    forward: (xs, a) => {
      const { shape, dim, starts } = concatPlan(xs.map((x) => x.shape), a.dim);
      const y = ref(shape);
      xs.forEach((x, i) => refPlace(y, x, dim, starts[i]!));
      return y;
    },
    backward: (xs, a, _, g) => {
      const { dim, starts } = concatPlan(xs.map((x) => x.shape), a.dim);
      return xs.map((x, i) => refRegion(g, dim, starts[i]!, starts[i]! + x.shape[dim]!));
    },
  },
  audit: [
    { name: 'concat dim 0', shapes: [[2, 3], [4, 3], [1, 3]], attrs: { dim: 0 } },
    { name: 'concat dim 1', shapes: [[2, 3, 2], [2, 1, 2]], attrs: { dim: 1 } },
    { name: 'concat dim -1', shapes: [[3, 2], [3, 5]], attrs: { dim: -1 } },
    { name: 'concat dim 0 [2,9] [3,9]', shapes: [[2, 9], [3, 9]], attrs: { dim: 0 } },
  ],
});

function concatPlan(shapes: readonly Shape[], d: number): { shape: number[]; dim: number; starts: number[] } {
  if (shapes.length === 0) throw new RangeError('concat: needs at least one tensor');
  const rank = shapes[0]!.length;
  const dim = d < 0 ? d + rank : d;
  if (dim < 0 || dim >= rank) throw new RangeError(`concat: dim ${d} out of range for rank ${rank}`);
  const starts: number[] = [];
  let total = 0;
  for (const s of shapes) {
    if (s.length !== rank || s.some((x, i) => i !== dim && x !== shapes[0]![i])) {
      throw new RangeError(`concat: shapes ${shapes.map(fmt).join(', ')} differ outside dim ${dim}`);
    }
    starts.push(total);
    total += s[dim]!;
  }
  return { shape: shapes[0]!.map((x, i) => (i === dim ? total : x)), dim, starts };
}

export const broadcastToOp = defineOp<{ shape: number[] }>({
  name: 'broadcast_to',
  anyDType: true,
  forward: ([x], a) => {
    const shape = broadcastShapes('broadcast_to', x!.shape, a.shape);
    if (!sameShape(shape, a.shape)) throw new RangeError(`broadcast_to: cannot broadcast ${fmt(x!.shape)} to ${fmt(a.shape)}`);
    const y = empty(x!.device, shape, x!.dtype);
    const st = stridesOf(x!.shape);
    const strides = shape.map((d, i) => {
      const k = i - (shape.length - x!.rank);
      return k < 0 || x!.shape[k] === 1 ? 0 : st[k]!;
    });
    copyView(x!, { offset: 0, strides }, y, { offset: 0, strides: stridesOf(shape) }, shape);
    return y;
  },
  backward: (g, ctx) => [o.sumTo(g, ctx.inputShapes[0]!)],
  reference: {
    forward: ([x], a) => {
      const y = ref(a.shape);
      const st = stridesOf(x!.shape);
      const ost = stridesOf(a.shape);
      for (let i = 0; i < y.data.length; i++) {
        let src = 0;
        a.shape.forEach((d, k) => {
          const j = k - (a.shape.length - x!.shape.length);
          if (j >= 0 && x!.shape[j] !== 1) src += (Math.floor(i / ost[k]!) % d) * st[j]!;
        });
        y.data[i] = x!.data[src]!;
      }
      return y;
    },
    backward: ([x], _, __, g) => [refSumTo(g, x!.shape)],
  },
  audit: [
    { name: 'broadcast_to [3,1]->[2,3,4]', shapes: [[3, 1]], attrs: { shape: [2, 3, 4] } },
    { name: 'broadcast_to [4]->[3,4]', shapes: [[4]], attrs: { shape: [3, 4] } },
    { name: 'broadcast_to []->[2,2]', shapes: [[]], attrs: { shape: [2, 2] } },
    // Global average pooling's backward: inner dims of stride 0 merge into one row of 25 per element.
    { name: 'broadcast_to [2,3,1,1]->[2,3,5,5]', shapes: [[2, 3, 1, 1]], attrs: { shape: [2, 3, 5, 5] } },
    { name: 'broadcast_to [1,3]->[1,3]', shapes: [[1, 3]], attrs: { shape: [1, 3] } },
  ],
});

export const cloneOp = defineOp<Record<string, never>>({
  name: 'clone',
  anyDType: true,
  halfInputs: true,
  forward: ([x]) => {
    const y = empty(x!.device, x!.shape, x!.dtype);
    x!.device.copyBuffer(x!.storage.buffer, y.storage.buffer, y.storage.bytes);
    return y;
  },
  backward: (g) => [g],
  reference: { forward: ([x]) => ref(x!.shape, x!.data), backward: (_, __, ___, g) => [ref(g.shape, g.data)] },
  audit: [{ name: 'clone [3,4]', shapes: [[3, 4]], attrs: {} }],
});

registerCaseAdapter('reshape', (x, p) => ({ y: reshapeOp([x.x!], { shape: param.ints(p, 'shape') }) }), { inputs: ['x'] });
registerCaseAdapter('permute', (x, p) => ({ y: permuteOp([x.x!], { dims: param.ints(p, 'dims') }) }), { inputs: ['x'] });
registerCaseAdapter('transpose', (x, p) => ({ y: transposeOp([x.x!], { dim0: param.num(p, 'dim0'), dim1: param.num(p, 'dim1') }) }), { inputs: ['x'] });
registerCaseAdapter('slice', (x, p) => ({ y: sliceOp([x.x!], { dim: param.num(p, 'dim'), start: param.num(p, 'start'), end: param.num(p, 'end') }) }), { inputs: ['x'] });
// Inputs x0, x1, ... in index order.
registerCaseAdapter('concat', (x, p) => ({
  y: concatOp(Object.keys(x).filter((k) => /^x\d+$/.test(k)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))).map((k) => x[k]!), { dim: param.num(p, 'dim') }),
}), { inputs: ['x0'] });
registerCaseAdapter('broadcast_to', (x, p) => ({ y: broadcastToOp([x.x!], { shape: param.ints(p, 'shape') }) }), { inputs: ['x'] });
