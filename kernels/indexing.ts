/**
 * Wrappers of the indexing kernels: gather.wgsl, scatter.wgsl and scatter_claim.wgsl walk one indexed view
 * (lib/indexed.wgsl); scatter_add.wgsl is a deterministic scatter-add written as a gather over the output.
 */
import { Kernel, dims8, grid1d, type Dispatcher } from './kernel.js';

const gather = Kernel.fromFile('gather', 'gather.wgsl');
const scatter = Kernel.fromFile('scatter', 'scatter.wgsl');
const scatterClaim = Kernel.fromFile('scatter_claim', 'scatter_claim.wgsl');
const scatterAdd = Kernel.fromFile('scatter_add', 'scatter_add.wgsl');

/**
 * For every coordinate c of `shape`: k = index[c . index] is a position along the indexed tensor's axis, whose
 * element is at c . target + k * axisStride (target is 0 along the axis); the dense tensor's is at c . dense.
 */
export interface IndexedView {
  shape: readonly number[];
  index: readonly number[];
  dense: readonly number[];
  target: readonly number[];
  axisStride: number;
  /** Valid indices are in [0, axisSize). */
  axisSize: number;
}

/**
 * The same view with fewer dims: size-1 dims dropped, and neighbours merged where all three stride lists walk
 * them as one dim. The axis never merges (its target stride is 0, its neighbours' are not).
 */
export function coalesceView(v: IndexedView): IndexedView {
  const out = { shape: [] as number[], index: [] as number[], dense: [] as number[], target: [] as number[] };
  for (let i = 0; i < v.shape.length; i++) {
    const n = v.shape[i]!;
    if (n === 1) continue;
    const k = out.shape.length - 1;
    if (k >= 0 && out.index[k] === v.index[i]! * n && out.dense[k] === v.dense[i]! * n && out.target[k] === v.target[i]! * n) {
      out.shape[k]! *= n;
      out.index[k] = v.index[i]!;
      out.dense[k] = v.dense[i]!;
      out.target[k] = v.target[i]!;
    } else {
      out.shape.push(n);
      out.index.push(v.index[i]!);
      out.dense.push(v.dense[i]!);
      out.target.push(v.target[i]!);
    }
  }
  if (!out.shape.length) return { shape: [1], index: [0], dense: [0], target: [0], axisStride: v.axisStride, axisSize: v.axisSize };
  return { ...out, axisStride: v.axisStride, axisSize: v.axisSize };
}

/** Elements per thread along the innermost dim (lib/indexed.wgsl's VEC: spreads a thread's fixed cost). */
const VEC = 8;

/** Who wrote each target of an overwriting scatter (scatter_claim.wgsl), keyed by index value or by target offset. */
export interface Claim { win: GPUBufferBinding; keyByIndex: boolean }

function dispatchView(d: Dispatcher, kernel: Kernel, buffers: Record<string, GPUBufferBinding>, view: IndexedView, overrides: Record<string, number | boolean>): void {
  const v = coalesceView(view);
  const n = v.shape.reduce((p, q) => p * q, 1);
  if (n === 0) return;
  const rank = v.shape.length;
  const inner = v.shape[rank - 1]!;
  const chunks = Math.ceil(inner / VEC);
  const threads = (n / inner) * chunks;
  d.run(kernel, {
    buffers,
    params: {
      threads, chunks, rank, axis_stride: v.axisStride, axis_size: v.axisSize,
      shape: dims8(v.shape), index_strides: dims8(v.index), dense_strides: dims8(v.dense), target_strides: dims8(v.target),
    },
    overrides,
    workgroups: grid1d(threads, kernel.workgroupSize[0]),
  });
}

/** out[c . dense] = x[c . target + k * axisStride] (0 for an out-of-range k; with `claim`, 0 unless c owns the target). */
export function runGather(d: Dispatcher, x: GPUBufferBinding, index: GPUBufferBinding, out: GPUBufferBinding, view: IndexedView, claim?: Claim): void {
  dispatchView(d, gather, { x, index, win: claim?.win ?? index, out }, view, { WINNER: !!claim, KEY_BY_INDEX: claim?.keyByIndex ?? false });
}

/**
 * out[c . target + k * axisStride] = src[c . dense] (or 0 with `zero`), skipping out-of-range k; with `claim`, only
 * the owner of each target writes. out must already hold the values that stay.
 */
export function runScatter(d: Dispatcher, src: GPUBufferBinding, index: GPUBufferBinding, out: GPUBufferBinding, view: IndexedView, opts: { claim?: Claim; zero?: boolean } = {}): void {
  dispatchView(d, scatter, { src, index, win: opts.claim?.win ?? index, out }, view,
    { WINNER: !!opts.claim, KEY_BY_INDEX: opts.claim?.keyByIndex ?? false, ZERO: opts.zero ?? false });
}

/** win[key] = max(win[key], c . index) for every valid c (win filled with -1 first). */
export function runScatterClaim(d: Dispatcher, index: GPUBufferBinding, claim: Claim, view: IndexedView): void {
  dispatchView(d, scatterClaim, { index, win: claim.win }, view, { KEY_BY_INDEX: claim.keyByIndex });
}

/**
 * A scatter-add as a gather over the output (scatter_add.wgsl): out[o] = x[o] + alpha * the src elements that
 * index sends to o. `shape`: the output's; `bound`: the index's (its coordinates address index and src); `axis`.
 */
export interface ScatterAddGeometry {
  shape: readonly number[];
  bound: readonly number[];
  index: readonly number[];
  src: readonly number[];
  axis: number;
}

/** Drops size-1 dims off the axis and merges neighbours off the axis where bound and strides allow. */
export function coalesceScatterAdd(g: ScatterAddGeometry): ScatterAddGeometry {
  const out = { shape: [] as number[], bound: [] as number[], index: [] as number[], src: [] as number[], axis: 0 };
  let prevIsAxis = true;
  for (let i = 0; i < g.shape.length; i++) {
    const n = g.shape[i]!;
    const isAxis = i === g.axis;
    if (!isAxis && n === 1 && g.bound[i] === 1) continue;
    const k = out.shape.length - 1;
    const merge = !isAxis && !prevIsAxis && k >= 0 && g.bound[i] === n && out.index[k] === g.index[i]! * n && out.src[k] === g.src[i]! * n;
    if (merge) {
      out.shape[k]! *= n;
      out.bound[k]! *= n;
      out.index[k] = g.index[i]!;
      out.src[k] = g.src[i]!;
    } else {
      if (isAxis) out.axis = out.shape.length;
      out.shape.push(n);
      out.bound.push(g.bound[i]!);
      out.index.push(g.index[i]!);
      out.src.push(g.src[i]!);
    }
    prevIsAxis = isAxis;
  }
  return out;
}

/** out = (x, or zeros when x is null) + alpha * the scatter of src (see ScatterAddGeometry). */
export function runScatterAdd(d: Dispatcher, x: GPUBufferBinding | null, src: GPUBufferBinding, index: GPUBufferBinding, out: GPUBufferBinding, geometry: ScatterAddGeometry, alpha = 1): void {
  const g = coalesceScatterAdd(geometry);
  const n = g.shape.reduce((p, q) => p * q, 1);
  if (n === 0) return;
  d.run(scatterAdd, {
    buffers: { x: x ?? src, src, index, out },
    params: { n, rank: g.shape.length, axis: g.axis, m_len: g.bound[g.axis]!, alpha, shape: dims8(g.shape), bound: dims8(g.bound), index_strides: dims8(g.index), src_strides: dims8(g.src) },
    overrides: { HAS_X: x !== null },
    workgroups: grid1d(n, scatterAdd.workgroupSize[0]),
  });
}
