/**
 * Indexing ops along an axis, with PyTorch's semantics: gather and index_select (torch.gather,
 * torch.index_select), scatter and scatter_add (torch.scatter, torch.scatter_add, out of place), index_copy and
 * index_add (torch.index_copy, torch.index_add: whole slices along the axis, e.g. a subset of rows written back
 * into a full batch). masked_select and the GPU compaction behind it are in masked_select.ts.
 *
 * Indices are int32. Ranks, shapes and dtypes are checked on the CPU; index values are not (that needs a
 * readback): an out-of-range index reads 0 in gather and index_select and is skipped by the scatters, never
 * touching memory out of bounds (kernels/lib/indexed.wgsl). Negative indices are out of range, as in PyTorch.
 *
 * Duplicate indices. The adds (scatter_add, index_add, and the backwards of gather and index_select) sum every
 * duplicate, in increasing index position: deterministic, since scatter_add.wgsl is a gather over the output (no
 * float atomics); it loops over the index's length along the axis for every output element. The overwrites
 * (scatter, index_copy), whose duplicates PyTorch leaves undefined, keep the last occurrence (the largest index
 * position, as a sequential loop would), also deterministically: a claim pass (integer atomicMax) finds it and only
 * it writes, and only it gets a gradient. `unique: true` promises there are no duplicates and skips that pass: an
 * overwrite is then one buffer copy and one dispatch (AutoAttack writing still-robust rows back into the batch), and
 * index_select's backward one scatter instead of the scatter-add loop. Broken, the promise leaves unspecified which
 * duplicate wins, and gives every duplicate a gradient.
 */
import { defineOp, type ForwardResult, type InputGen } from '../op.js';
import { empty, full, zeros } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { fmt, sameShape, sizeOf, stridesOf, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runGather, runScatter, runScatterAdd, runScatterClaim, type Claim, type IndexedView } from '../../kernels/indexing.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

// ---------------------------------------------------------------------------------------------------------------
// Plans: which elements an op visits, checked once for forward, backward and reference alike
// ---------------------------------------------------------------------------------------------------------------

/**
 * 'elements': index has x's rank and picks one position per element (gather, scatter); 'slices': index [M] picks
 * whole slices along the axis (index_select, index_copy, index_add).
 */
type Form = 'elements' | 'slices';

interface Plan {
  form: Form;
  axis: number;
  /** The visited coordinates: index's shape ('elements'), or x's with the axis resized to M ('slices'). */
  iter: number[];
  /** Strides into index over `iter` (0 off the axis for 'slices': the index broadcasts). */
  indexStrides: number[];
}

function normAxis(op: string, axis: number, rank: number): number {
  if (rank === 0) throw new RangeError(`${op}: x must have at least one dimension, got a scalar`);
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw new RangeError(`${op}: axis ${axis} is out of range for x of rank ${rank} (expected ${-rank}..${rank - 1})`);
  return axis < 0 ? axis + rank : axis;
}

function planElements(op: string, x: Shape, axis: number, index: Shape, src?: Shape): Plan {
  const ax = normAxis(op, axis, x.length);
  if (index.length !== x.length) throw new RangeError(`${op}: index must have x's rank ${x.length}, got shape ${fmt(index)} (x ${fmt(x)})`);
  index.forEach((n, d) => {
    if (d !== ax && n > x[d]!) throw new RangeError(`${op}: index.shape[${d}] = ${n} exceeds x.shape[${d}] = ${x[d]} (index ${fmt(index)}, x ${fmt(x)}, axis ${ax})`);
  });
  if (src) {
    if (src.length !== x.length) throw new RangeError(`${op}: src must have x's rank ${x.length}, got shape ${fmt(src)}`);
    index.forEach((n, d) => {
      if (n > src[d]!) throw new RangeError(`${op}: index.shape[${d}] = ${n} exceeds src.shape[${d}] = ${src[d]} (index ${fmt(index)}, src ${fmt(src)})`);
    });
  }
  return { form: 'elements', axis: ax, iter: [...index], indexStrides: stridesOf(index) };
}

function planSlices(op: string, x: Shape, axis: number, index: Shape, src?: Shape): Plan {
  const ax = normAxis(op, axis, x.length);
  if (index.length !== 1) throw new RangeError(`${op}: index must be 1-D [M], got shape ${fmt(index)}`);
  const iter = x.map((n, d) => (d === ax ? index[0]! : n));
  if (src && !sameShape(src, iter)) throw new RangeError(`${op}: src must have shape ${fmt(iter)} (x ${fmt(x)} with axis ${ax} of the index's length ${index[0]}), got ${fmt(src)}`);
  return { form: 'slices', axis: ax, iter, indexStrides: x.map((_, d) => (d === ax ? 1 : 0)) };
}

/** The kernels' view of a plan: the indexed tensor x (or the scatter's output, of x's shape) and a dense tensor. */
function viewOf(p: Plan, x: Shape, dense: Shape): IndexedView {
  const xs = stridesOf(x);
  return {
    shape: p.iter, index: p.indexStrides, dense: stridesOf(dense), target: xs.map((s, d) => (d === p.axis ? 0 : s)),
    axisStride: xs[p.axis]!, axisSize: x[p.axis]!,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// GPU building blocks (called inside op forwards and backwards)
// ---------------------------------------------------------------------------------------------------------------

/** A tensor of shape `dense` holding the gather of x at its own strides (zeros elsewhere when dense is larger than the plan). */
function gatherInto(x: Tensor, index: Tensor, p: Plan, dense: Shape, dtype = x.dtype, claim?: Claim): Tensor {
  const out = sameShape(dense, p.iter) ? empty(x.device, dense, dtype) : zeros(dense, { device: x.device, dtype });
  runGather(x.device, x.storage.binding(), index.storage.binding(), out.storage.binding(), viewOf(p, x.shape, dense), claim);
  return out;
}

/** For an overwriting scatter with possible duplicates: which index position owns each target (the last one). */
function claimTargets(index: Tensor, p: Plan, x: Shape): { claim: Claim; win: Tensor } {
  const keyByIndex = p.form === 'slices';
  const win = full([keyByIndex ? x[p.axis]! : sizeOf(x)], -1, { device: index.device, dtype: 'int32' });
  const claim = { win: win.storage.binding(), keyByIndex };
  // Slices are claimed once per index element, not once per element of the slice.
  const view = keyByIndex ? { shape: [index.size], index: [1], dense: [0], target: [0], axisStride: 0, axisSize: x[p.axis]! } : viewOf(p, x, p.iter);
  runScatterClaim(index.device, index.storage.binding(), claim, view);
  return { claim, win };
}

/** x with src written over it at the indexed positions (the last duplicate wins, unless `unique`). */
function overwrite(x: Tensor, index: Tensor, src: Tensor, p: Plan, unique: boolean): ForwardResult {
  if (src.dtype !== x.dtype) throw new TypeError(`${p.form === 'slices' ? 'index_copy' : 'scatter'}: src is ${src.dtype}, expected x's dtype ${x.dtype}`);
  const out = empty(x.device, x.shape, x.dtype);
  x.device.copyBuffer(x.storage.buffer, out.storage.buffer, x.size * 4);
  const claimed = unique ? null : claimTargets(index, p, x.shape);
  runScatter(x.device, src.storage.binding(), index.storage.binding(), out.storage.binding(), viewOf(p, x.shape, src.shape), { claim: claimed?.claim });
  return { out, saved: claimed ? { win: claimed.win } : {} };
}

/** The gradients of an overwrite: g with the overwritten positions zeroed, and g at each src element's target if it won. */
function overwriteBackward(g: Tensor, needs: readonly boolean[], index: Tensor, win: Tensor | undefined, p: Plan, src: Shape): (Tensor | null)[] {
  let gx: Tensor | null = null;
  if (needs[0]) {
    gx = empty(g.device, g.shape);
    g.device.copyBuffer(g.storage.buffer, gx.storage.buffer, g.size * 4);
    // Every duplicate zeroes the same position, so no claim is needed.
    runScatter(g.device, g.storage.binding(), index.storage.binding(), gx.storage.binding(), viewOf(p, g.shape, src), { zero: true });
  }
  const claim = win ? { win: win.storage.binding(), keyByIndex: p.form === 'slices' } : undefined;
  return [gx, null, needs[2] ? gatherInto(g, index, p, src, 'float32', claim) : null];
}

/** (x, or zeros) + alpha * the sum of src's elements sent to each position (deterministic; see the header). */
function scatterSum(x: Tensor | null, index: Tensor, src: Tensor, p: Plan, xShape: Shape, alpha = 1): Tensor {
  const out = empty(src.device, xShape);
  runScatterAdd(src.device, x?.storage.binding() ?? null, src.storage.binding(), index.storage.binding(), out.storage.binding(),
    { shape: xShape, bound: p.iter, index: p.indexStrides, src: stridesOf(src.shape), axis: p.axis }, alpha);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// float64 references: plain loops over coordinates, independent of the plans and kernels above
// ---------------------------------------------------------------------------------------------------------------

function coordsOf(i: number, shape: Shape): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { c[d] = i % shape[d]!; i = Math.floor(i / shape[d]!); }
  return c;
}

function offsetOf(c: readonly number[], shape: Shape): number {
  let off = 0;
  for (let d = 0; d < shape.length; d++) off = off * shape[d]! + c[d]!;
  return off;
}

const refAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const inRange = (k: number, n: number) => Number.isInteger(k) && k >= 0 && k < n;

/**
 * For each visited element in order: the index position, the dense offset (gather's output / scatter's src) and the
 * offset in x it addresses (null when the index is out of range). `slices`: index [M] along the axis.
 */
function refVisit(x: Shape, axis: number, index: RefTensor, dense: Shape, slices: boolean, f: (pos: number, denseOff: number, xOff: number | null) => void): void {
  const ax = refAxis(axis, x.length);
  const iter = slices ? x.map((n, d) => (d === ax ? index.shape[0]! : n)) : index.shape;
  for (let i = 0; i < sizeOf(iter); i++) {
    const c = coordsOf(i, iter);
    const pos = slices ? c[ax]! : i;
    const k = index.data[pos]!;
    const xc = c.slice();
    xc[ax] = k;
    f(pos, offsetOf(c, dense), inRange(k, x[ax]!) ? offsetOf(xc, x) : null);
  }
}

function refGather(x: RefTensor, axis: number, index: RefTensor, slices: boolean): RefTensor {
  const ax = refAxis(axis, x.shape.length);
  const shape = slices ? x.shape.map((n, d) => (d === ax ? index.shape[0]! : n)) : index.shape;
  const out = ref(shape);
  refVisit(x.shape, axis, index, shape, slices, (_, j, xo) => { out.data[j] = xo === null ? 0 : x.data[xo]!; });
  return out;
}

/** d/dx of a gather: gout added into zeros at the gathered positions. */
function refGatherBackward(x: RefTensor, axis: number, index: RefTensor, gout: RefTensor, slices: boolean): RefTensor {
  const gx = ref(x.shape);
  refVisit(x.shape, axis, index, gout.shape, slices, (_, j, xo) => { if (xo !== null) gx.data[xo] += gout.data[j]!; });
  return gx;
}

/** The scatter (overwrite, sequential: the last occurrence wins) or the scatter-add of src into a copy of x. */
function refScatter(x: RefTensor, axis: number, index: RefTensor, src: RefTensor, slices: boolean, add: boolean, alpha = 1): RefTensor {
  const out = ref(x.shape, x.data);
  refVisit(x.shape, axis, index, src.shape, slices, (_, j, xo) => {
    if (xo === null) return;
    out.data[xo] = add ? out.data[xo]! + alpha * src.data[j]! : src.data[j]!;
  });
  return out;
}

function refScatterBackward(x: RefTensor, axis: number, index: RefTensor, src: RefTensor, gout: RefTensor, slices: boolean, add: boolean, alpha = 1): RefTensor[] {
  const gx = ref(x.shape, gout.data);
  const gsrc = ref(src.shape);
  if (add) {
    refVisit(x.shape, axis, index, src.shape, slices, (_, j, xo) => { if (xo !== null) gsrc.data[j] = alpha * gout.data[xo]!; });
    return [gx, gsrc];
  }
  // Overwrite: each target's last writer gets its gradient; the overwritten x elements get none.
  const last = new Map<number, number>();
  refVisit(x.shape, axis, index, src.shape, slices, (_, j, xo) => { if (xo !== null) last.set(xo, j); });
  for (const [xo, j] of last) { gsrc.data[j] = gout.data[xo]!; gx.data[xo] = 0; }
  return [gx, gsrc];
}

// ---------------------------------------------------------------------------------------------------------------
// Audit cases
// ---------------------------------------------------------------------------------------------------------------

const labels = (k: number): InputGen => `labels:${k}`;
/** A permutation of 0..n-1 (the first m of it: unique indices), fixed so that cases are reproducible. */
const perm = (n: number, m = n, seed = 1): number[] => {
  const p = [...Array(n).keys()];
  let s = seed;
  for (let i = n - 1; i > 0; i--) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; const j = s % (i + 1); [p[i], p[j]] = [p[j]!, p[i]!]; }
  return p.slice(0, m);
};
/** Unique indices along `axis` for an 'elements' index of `shape` into a dim of `n`: each line along the axis is a partial permutation. */
const uniqueAlong = (shape: number[], axis: number, n: number): number[] => {
  const out = new Array<number>(sizeOf(shape));
  const lines = sizeOf(shape) / shape[axis]!;
  const inner = sizeOf(shape.slice(axis + 1));
  for (let l = 0; l < lines; l++) {
    const p = perm(n, shape[axis]!, l + 7);
    const base = Math.floor(l / inner) * shape[axis]! * inner + (l % inner);
    p.forEach((k, m) => { out[base + m * inner] = k; });
  }
  return out;
};

// ---------------------------------------------------------------------------------------------------------------
// gather, index_select
// ---------------------------------------------------------------------------------------------------------------

export interface GatherAttrs { axis: number }
export interface IndexSelectAttrs { axis: number; unique?: boolean }

export const gatherOp = defineOp<GatherAttrs>({
  name: 'gather',
  anyDType: true,
  int32Inputs: [1],
  nondiff: [1],
  inputs: ['x', 'index'],
  save: ['index'],
  forward: ([x, index], a) => {
    const p = planElements('gather', x!.shape, a.axis, index!.shape);
    return gatherInto(x!, index!, p, p.iter);
  },
  backward: (g, ctx) => {
    const index = ctx.saved.index;
    const p = planElements('gather', ctx.inputShapes[0]!, ctx.attrs.axis, ctx.inputShapes[1]!);
    return [ctx.needs[0] ? scatterSum(null, index!, g, p, ctx.inputShapes[0]!) : null, null];
  },
  reference: {
    forward: ([x, index], a) => refGather(x!, a.axis, index!, false),
    backward: ([x, index], a, _, g) => [refGatherBackward(x!, a.axis, index!, g, false), null],
  },
  audit: [
    { name: 'gather [5] axis 0, index [8] (duplicates)', shapes: [[5], [8]], attrs: { axis: 0 }, gen: ['normal', labels(5)] },
    { name: 'gather [4,7] axis 1, index [4,3]', shapes: [[4, 7], [4, 3]], attrs: { axis: 1 }, gen: ['normal', labels(7)] },
    { name: 'gather [4,7] axis -1, index [2,9] (narrower rows, longer axis)', shapes: [[4, 7], [2, 9]], attrs: { axis: -1 }, gen: ['normal', labels(7)] },
    { name: 'gather [6,5] axis 0, index [9,5]', shapes: [[6, 5], [9, 5]], attrs: { axis: 0 }, gen: ['normal', labels(6)] },
    { name: 'gather [3,5,4] axis 1 (middle), index [3,2,4]', shapes: [[3, 5, 4], [3, 2, 4]], attrs: { axis: 1 }, gen: ['normal', labels(5)] },
    { name: 'gather [2,3,5,3] axis -2, index [2,1,7,2]', shapes: [[2, 3, 5, 3], [2, 1, 7, 2]], attrs: { axis: -2 }, gen: ['normal', labels(5)] },
    { name: 'gather [3,1,6] axis 1 (size-1 axis)', shapes: [[3, 1, 6], [3, 4, 6]], attrs: { axis: 1 }, gen: ['normal', labels(1)] },
    // The picked logit of each label (cross-entropy's pattern): index [N, 1] along the class axis.
    { name: 'gather [33,10] axis 1, index [33,1]', shapes: [[33, 10], [33, 1]], attrs: { axis: 1 }, gen: ['normal', labels(10)], scale: 100 },
    { name: 'gather [3,4] axis 0, every index the same', shapes: [[3, 4], [5, 4]], attrs: { axis: 0 }, values: [null, new Array<number>(20).fill(2)] },
  ],
});

export const indexSelectOp = defineOp<IndexSelectAttrs>({
  name: 'index_select',
  anyDType: true,
  int32Inputs: [1],
  nondiff: [1],
  inputs: ['x', 'index'],
  save: ['index'],
  forward: ([x, index], a) => {
    const p = planSlices('index_select', x!.shape, a.axis, index!.shape);
    return gatherInto(x!, index!, p, p.iter);
  },
  backward: (g, ctx) => {
    if (!ctx.needs[0]) return [null, null];
    const index = ctx.saved.index;
    const xShape = ctx.inputShapes[0]!;
    const p = planSlices('index_select', xShape, ctx.attrs.axis, ctx.inputShapes[1]!);
    if (!ctx.attrs.unique) return [scatterSum(null, index!, g, p, xShape), null];
    const gx = zeros(xShape, { device: g.device });
    runScatter(g.device, g.storage.binding(), index!.storage.binding(), gx.storage.binding(), viewOf(p, xShape, g.shape));
    return [gx, null];
  },
  reference: {
    forward: ([x, index], a) => refGather(x!, a.axis, index!, true),
    backward: ([x, index], a, _, g) => [refGatherBackward(x!, a.axis, index!, g, true), null],
  },
  audit: [
    { name: 'index_select [7] axis 0, index [10] (duplicates)', shapes: [[7], [10]], attrs: { axis: 0 }, gen: ['normal', labels(7)] },
    { name: 'index_select [9,5] axis 0 (rows), index [4]', shapes: [[9, 5], [4]], attrs: { axis: 0 }, gen: ['normal', labels(9)] },
    { name: 'index_select [4,6] axis -1, index [9]', shapes: [[4, 6], [9]], attrs: { axis: -1 }, gen: ['normal', labels(6)] },
    { name: 'index_select [3,5,7] axis 1 (middle), index [3]', shapes: [[3, 5, 7], [3]], attrs: { axis: 1 }, gen: ['normal', labels(5)] },
    { name: 'index_select [5,3,2,4] axis 0, index [1]', shapes: [[5, 3, 2, 4], [1]], attrs: { axis: 0 }, gen: ['normal', labels(5)] },
    { name: 'index_select [2,3,1,5] axis 2 (size-1 axis), index [3]', shapes: [[2, 3, 1, 5], [3]], attrs: { axis: 2 }, gen: ['normal', labels(1)] },
    { name: 'index_select [6,2,3,3] axis 0 unique (still-robust rows)', shapes: [[6, 2, 3, 3], [4]], attrs: { axis: 0, unique: true }, values: [null, [4, 0, 5, 2]] },
    { name: 'index_select [3,11] axis 1 unique', shapes: [[3, 11], [11]], attrs: { axis: 1, unique: true }, values: [null, perm(11)] },
    { name: 'index_select [5,4] axis 0, empty index', shapes: [[5, 4], [0]], attrs: { axis: 0 } },
  ],
});

// ---------------------------------------------------------------------------------------------------------------
// scatter, scatter_add, index_copy, index_add
// ---------------------------------------------------------------------------------------------------------------

export interface ScatterAttrs { axis: number; unique?: boolean }
export interface ScatterAddAttrs { axis: number }
export interface IndexCopyAttrs { axis: number; unique?: boolean }
export interface IndexAddAttrs { axis: number; alpha?: number }

const scatterPlan = (op: string, [x, index, src]: readonly Shape[], axis: number) => planElements(op, x!, axis, index!, src!);
const slicesPlan = (op: string, [x, index, src]: readonly Shape[], axis: number) => planSlices(op, x!, axis, index!, src!);

export const scatterOp = defineOp<ScatterAttrs>({
  name: 'scatter',
  anyDType: true,
  int32Inputs: [1],
  nondiff: [1],
  inputs: ['x', 'index', 'src'],
  save: ['index', 'win?'],
  forward: ([x, index, src], a) => overwrite(x!, index!, src!, scatterPlan('scatter', [x!.shape, index!.shape, src!.shape], a.axis), a.unique ?? false),
  backward: (g, ctx) => {
    const { index, win } = ctx.saved;
    return overwriteBackward(g, ctx.needs, index!, win, scatterPlan('scatter', ctx.inputShapes, ctx.attrs.axis), ctx.inputShapes[2]!);
  },
  reference: {
    forward: ([x, index, src], a) => refScatter(x!, a.axis, index!, src!, false, false),
    backward: ([x, index, src], a, _, g) => { const [gx, gs] = refScatterBackward(x!, a.axis, index!, src!, g, false, false); return [gx!, null, gs!]; },
  },
  audit: [
    { name: 'scatter [6] axis 0, index [4] unique', shapes: [[6], [4], [4]], attrs: { axis: 0 }, values: [null, [3, 0, 5, 1], null] },
    { name: 'scatter [5,4] axis 0, index [3,4] unique per column', shapes: [[5, 4], [3, 4], [3, 4]], attrs: { axis: 0 }, values: [null, uniqueAlong([3, 4], 0, 5), null] },
    { name: 'scatter [3,7] axis -1, index [2,5], src [3,6] (larger src)', shapes: [[3, 7], [2, 5], [3, 6]], attrs: { axis: -1 }, values: [null, uniqueAlong([2, 5], 1, 7), null] },
    { name: 'scatter [2,5,3] axis 1 (middle), index [2,3,3]', shapes: [[2, 5, 3], [2, 3, 3], [2, 3, 3]], attrs: { axis: 1 }, values: [null, uniqueAlong([2, 3, 3], 1, 5), null] },
    { name: 'scatter [2,3,4,2] axis 2 unique promised', shapes: [[2, 3, 4, 2], [2, 3, 4, 2], [2, 3, 4, 2]], attrs: { axis: 2, unique: true }, values: [null, uniqueAlong([2, 3, 4, 2], 2, 4), null] },
    // Ours, not PyTorch's (undefined there): the last occurrence of a duplicate wins and alone gets a gradient.
    { name: 'scatter [4,3] axis 0, duplicates (last wins)', shapes: [[4, 3], [6, 3], [6, 3]], attrs: { axis: 0 }, gen: ['normal', labels(4), 'normal'] },
  ],
});

export const scatterAddOp = defineOp<ScatterAddAttrs>({
  name: 'scatter_add',
  int32Inputs: [1],
  nondiff: [1],
  inputs: ['x', 'index', 'src'],
  save: ['index'],
  forward: ([x, index, src], a) => {
    const p = scatterPlan('scatter_add', [x!.shape, index!.shape, src!.shape], a.axis);
    return scatterSum(x!, index!, src!, p, x!.shape);
  },
  backward: (g, ctx) => {
    const index = ctx.saved.index;
    const p = scatterPlan('scatter_add', ctx.inputShapes, ctx.attrs.axis);
    return [ctx.needs[0] ? g : null, null, ctx.needs[2] ? gatherInto(g, index!, p, ctx.inputShapes[2]!) : null];
  },
  reference: {
    forward: ([x, index, src], a) => refScatter(x!, a.axis, index!, src!, false, true),
    backward: ([x, index, src], a, _, g) => { const [gx, gs] = refScatterBackward(x!, a.axis, index!, src!, g, false, true); return [gx!, null, gs!]; },
  },
  audit: [
    { name: 'scatter_add [5] axis 0, index [9] (duplicates)', shapes: [[5], [9], [9]], attrs: { axis: 0 }, gen: ['normal', labels(5), 'normal'] },
    { name: 'scatter_add [4,6] axis 1, index [4,8]', shapes: [[4, 6], [4, 8], [4, 8]], attrs: { axis: 1 }, gen: ['normal', labels(6), 'normal'] },
    { name: 'scatter_add [3,5] axis -2, index [7,2], src [8,4]', shapes: [[3, 5], [7, 2], [8, 4]], attrs: { axis: -2 }, gen: ['normal', labels(3), 'normal'] },
    { name: 'scatter_add [2,4,3] axis 1 (middle), index [2,6,3]', shapes: [[2, 4, 3], [2, 6, 3], [2, 6, 3]], attrs: { axis: 1 }, gen: ['normal', labels(4), 'normal'] },
    { name: 'scatter_add [3,2,5,2] axis 3, index [3,2,5,5]', shapes: [[3, 2, 5, 2], [3, 2, 5, 5], [3, 2, 5, 5]], attrs: { axis: 3 }, gen: ['normal', labels(2), 'normal'] },
    { name: 'scatter_add [1,4] axis 0 (size-1 axis)', shapes: [[1, 4], [3, 4], [3, 4]], attrs: { axis: 0 }, gen: ['normal', labels(1), 'normal'] },
    { name: 'scatter_add [4,3] axis 0, everything to row 1', shapes: [[4, 3], [5, 3], [5, 3]], attrs: { axis: 0 }, values: [null, new Array<number>(15).fill(1), null], scale: 1e3 },
  ],
});

export const indexCopyOp = defineOp<IndexCopyAttrs>({
  name: 'index_copy',
  anyDType: true,
  int32Inputs: [1],
  nondiff: [1],
  inputs: ['x', 'index', 'src'],
  save: ['index', 'win?'],
  forward: ([x, index, src], a) => overwrite(x!, index!, src!, slicesPlan('index_copy', [x!.shape, index!.shape, src!.shape], a.axis), a.unique ?? false),
  backward: (g, ctx) => {
    const { index, win } = ctx.saved;
    return overwriteBackward(g, ctx.needs, index!, win, slicesPlan('index_copy', ctx.inputShapes, ctx.attrs.axis), ctx.inputShapes[2]!);
  },
  reference: {
    forward: ([x, index, src], a) => refScatter(x!, a.axis, index!, src!, true, false),
    backward: ([x, index, src], a, _, g) => { const [gx, gs] = refScatterBackward(x!, a.axis, index!, src!, g, true, false); return [gx!, null, gs!]; },
  },
  audit: [
    { name: 'index_copy [9] axis 0, index [4]', shapes: [[9], [4], [4]], attrs: { axis: 0 }, values: [null, [8, 0, 3, 5], null] },
    // AutoAttack's write-back: a subset of rows into the full batch, unique, one dispatch.
    { name: 'index_copy [7,2,3,3] axis 0 unique (rows)', shapes: [[7, 2, 3, 3], [3], [3, 2, 3, 3]], attrs: { axis: 0, unique: true }, values: [null, [6, 1, 3], null] },
    { name: 'index_copy [4,9] axis -1, index [9] (a permutation)', shapes: [[4, 9], [9], [4, 9]], attrs: { axis: -1 }, values: [null, perm(9), null] },
    { name: 'index_copy [3,6,5] axis 1 (middle), index [2]', shapes: [[3, 6, 5], [2], [3, 2, 5]], attrs: { axis: 1 }, values: [null, [5, 2], null] },
    { name: 'index_copy [2,1,4] axis 1 (size-1 axis)', shapes: [[2, 1, 4], [1], [2, 1, 4]], attrs: { axis: 1 }, values: [null, [0], null] },
    { name: 'index_copy [5,3] axis 0, duplicates (last wins)', shapes: [[5, 3], [7], [7, 3]], attrs: { axis: 0 }, values: [null, [1, 4, 1, 0, 4, 4, 2], null] },
  ],
});

export const indexAddOp = defineOp<IndexAddAttrs>({
  name: 'index_add',
  int32Inputs: [1],
  nondiff: [1],
  inputs: ['x', 'index', 'src'],
  save: ['index'],
  forward: ([x, index, src], a) => {
    const p = slicesPlan('index_add', [x!.shape, index!.shape, src!.shape], a.axis);
    return scatterSum(x!, index!, src!, p, x!.shape, a.alpha ?? 1);
  },
  backward: (g, ctx) => {
    const index = ctx.saved.index;
    const p = slicesPlan('index_add', ctx.inputShapes, ctx.attrs.axis);
    const alpha = ctx.attrs.alpha ?? 1;
    let gsrc: Tensor | null = null;
    if (ctx.needs[2]) {
      gsrc = gatherInto(g, index!, p, ctx.inputShapes[2]!);
      if (alpha !== 1) gsrc = o.scaleShift(gsrc, alpha, 0);
    }
    return [ctx.needs[0] ? g : null, null, gsrc];
  },
  reference: {
    forward: ([x, index, src], a) => refScatter(x!, a.axis, index!, src!, true, true, a.alpha ?? 1),
    backward: ([x, index, src], a, _, g) => { const [gx, gs] = refScatterBackward(x!, a.axis, index!, src!, g, true, true, a.alpha ?? 1); return [gx!, null, gs!]; },
  },
  audit: [
    { name: 'index_add [6] axis 0, index [10] (duplicates)', shapes: [[6], [10], [10]], attrs: { axis: 0 }, gen: ['normal', labels(6), 'normal'] },
    { name: 'index_add [7,5] axis 0, index [4]', shapes: [[7, 5], [4], [4, 5]], attrs: { axis: 0 }, gen: ['normal', labels(7), 'normal'] },
    { name: 'index_add [3,8] axis -1, index [11], alpha -2.5', shapes: [[3, 8], [11], [3, 11]], attrs: { axis: -1, alpha: -2.5 }, gen: ['normal', labels(8), 'normal'] },
    { name: 'index_add [2,5,3] axis 1 (middle), index [6]', shapes: [[2, 5, 3], [6], [2, 6, 3]], attrs: { axis: 1 }, gen: ['normal', labels(5), 'normal'] },
    { name: 'index_add [4,3,2,3] axis 2, index [5]', shapes: [[4, 3, 2, 3], [5], [4, 3, 5, 3]], attrs: { axis: 2 }, gen: ['normal', labels(2), 'normal'] },
    { name: 'index_add [1,6] axis 0 (size-1 axis), index [3]', shapes: [[1, 6], [3], [3, 6]], attrs: { axis: 0 }, gen: ['normal', labels(1), 'normal'], scale: 1e-3 },
    { name: 'index_add [5,4] axis 0, index [0]', shapes: [[5, 4], [0], [0, 4]], attrs: { axis: 0 } },
  ],
});

// ---------------------------------------------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------------------------------------------

function checkIndex(op: string, index: Tensor): void {
  index.assertLive(`${op} (index)`);
  if (index.dtype !== 'int32') throw new TypeError(`${op}: index must be int32, got ${index.dtype} (tensor #${index.id}, shape ${fmt(index.shape)})`);
}

function checkFloat(op: string, arg: string, t: Tensor): void {
  if (t.dtype !== 'float32') throw new TypeError(`${op}: ${arg} must be float32, got ${t.dtype} (tensor #${t.id})`);
}

/** out[c] = x[c with c[axis] replaced by index[c]] (torch.gather); index has x's rank, out index's shape. Any dtype. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndex('gather', index);
  return gatherOp([x, index], { axis });
}

/**
 * The slices of x at index [M] along the axis (torch.index_select): x.shape with the axis resized to M. Any dtype.
 * `unique`: the caller promises no duplicate indices (compacted positions), making the backward one scatter.
 */
export function indexSelect(x: Tensor, axis: number, index: Tensor, opts: { unique?: boolean } = {}): Tensor {
  checkIndex('index_select', index);
  return indexSelectOp([x, index], { axis, unique: opts.unique ?? false });
}

/**
 * A copy of x with src written (reduce 'none', torch.scatter; any dtype) or added (reduce 'add',
 * torch.scatter_add; float32) at c with c[axis] replaced by index[c], for every coordinate c of index.
 * Duplicates: the last occurrence wins, or all are summed; `unique` (overwrite only) promises none.
 */
export function scatter(x: Tensor, axis: number, index: Tensor, src: Tensor, opts: { reduce?: 'none' | 'add'; unique?: boolean } = {}): Tensor {
  checkIndex('scatter', index);
  const reduce = opts.reduce ?? 'none';
  if (reduce === 'add') {
    checkFloat('scatter_add', 'x', x);
    checkFloat('scatter_add', 'src', src);
    return scatterAddOp([x, index, src], { axis });
  }
  if (reduce !== 'none') throw new RangeError(`scatter: reduce must be 'none' or 'add', got ${JSON.stringify(reduce)}`);
  return scatterOp([x, index, src], { axis, unique: opts.unique ?? false });
}

export const scatterAdd = (x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor => scatter(x, axis, index, src, { reduce: 'add' });

/**
 * A copy of x with its slices at index [M] along the axis replaced by src's (torch.index_copy; any dtype).
 * Duplicates: the last occurrence wins; `unique` promises none, making it one buffer copy and one dispatch.
 */
export function indexCopy(x: Tensor, axis: number, index: Tensor, src: Tensor, opts: { unique?: boolean } = {}): Tensor {
  checkIndex('index_copy', index);
  return indexCopyOp([x, index, src], { axis, unique: opts.unique ?? false });
}

/** x + alpha * src's slices added at index [M] along the axis (torch.index_add; duplicates sum, in order). */
export function indexAdd(x: Tensor, axis: number, index: Tensor, src: Tensor, opts: { alpha?: number } = {}): Tensor {
  checkIndex('index_add', index);
  checkFloat('index_add', 'x', x);
  checkFloat('index_add', 'src', src);
  return indexAddOp([x, index, src], { axis, alpha: opts.alpha ?? 1 });
}

const axisParam = (p: Record<string, unknown>) => param.num(p, 'dim');
registerCaseAdapter('gather', (x, p) => ({ y: gather(x.x!, axisParam(p), x.index!) }));
registerCaseAdapter('index_select', (x, p) => ({ y: indexSelect(x.x!, axisParam(p), x.index!) }));
registerCaseAdapter('scatter', (x, p) => ({ y: scatter(x.x!, axisParam(p), x.index!, x.src!) }));
registerCaseAdapter('scatter_add', (x, p) => ({ y: scatterAdd(x.x!, axisParam(p), x.index!, x.src!) }));
registerCaseAdapter('index_copy', (x, p) => ({ y: indexCopy(x.x!, axisParam(p), x.index!, x.src!) }));
registerCaseAdapter('index_add', (x, p) => ({ y: indexAdd(x.x!, axisParam(p), x.index!, x.src!, { alpha: param.optNum(p, 'alpha') ?? 1 }) }));
