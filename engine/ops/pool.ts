/**
 * 2-D pooling over NCHW activations with PyTorch's semantics: max_pool2d (padding counts as -inf, ties go to
 * the first maximum in row-major window order, NaN propagates), avg_pool2d (count_include_pad both ways,
 * ceil_mode windows that hang over the padded edge divide by their part inside it), adaptive_avg_pool2d
 * (windows [floor(i*H/OH), ceil((i+1)*H/OH))) and global average pooling to [N, C].
 * Output sizes follow PyTorch's pooling_output_shape: floor (or ceil) of (H + 2p - d(k-1) - 1) / s + 1, where
 * in ceil_mode the last window must start inside the input or the left padding.
 * Backwards are gathers over the windows covering each input element (no atomics); max_pool2d's forward
 * saves the argmax positions (int32, as PyTorch's indices) and routes each gradient to exactly that element.
 * Where max_pool2d's windows tile the input (kernel == stride, no padding or dilation), its backward instead
 * scatters from each window over its own positions, which no other window writes.
 */
import { defineOp, type AuditCase, type ForwardResult } from '../op.js';
import { empty } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { fmt, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runAvgPool, runMaxPool, runMaxPoolBackward, type PoolGeometry } from '../../kernels/pool.js';
import * as o from './index.js';
import { reluBackwardFromOutput } from './activation.js';
import { registerCaseAdapter, param, type CaseParams } from '../case_adapters.js';

/** One int for both spatial axes, or [h, w]. */
export type IntPair = number | readonly [number, number];
export interface MaxPool2dOptions { kernelSize: IntPair; stride?: IntPair; padding?: IntPair; dilation?: IntPair; ceilMode?: boolean }
export interface AvgPool2dOptions { kernelSize: IntPair; stride?: IntPair; padding?: IntPair; ceilMode?: boolean; countIncludePad?: boolean }

type Pair = [number, number];
/** Normalised window attrs (what the ops and their audit cases take). */
export interface PoolAttrs { kernel: Pair; stride: Pair; padding: Pair; dilation: Pair; ceilMode: boolean }
export interface AvgPoolAttrs extends Omit<PoolAttrs, 'dilation'> { countIncludePad: boolean }
export interface AdaptivePoolAttrs { outputSize: Pair }

function toPair(op: string, name: string, v: IntPair, min: number): Pair {
  const p: Pair = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if ((typeof v !== 'number' && (!Array.isArray(v) || v.length !== 2)) || p.some((u) => !Number.isInteger(u) || u < min)) {
    throw new RangeError(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

function checkNchw(op: string, shape: Shape): void {
  if (shape.length !== 4) throw new RangeError(`${op}: x must be NCHW (rank 4), got shape ${fmt(shape)}`);
  if (shape[2] === 0 || shape[3] === 0) throw new RangeError(`${op}: x must have non-empty spatial dims, got shape ${fmt(shape)}`);
}

/** PyTorch's pooling_output_shape for one axis. */
export function poolOutputSize(size: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= size + p) out--;
  return out;
}

/** Checks the window against x (PyTorch's pool2d_shape_check) and returns the kernels' geometry. */
function poolGeometry(op: string, shape: Shape, a: PoolAttrs): PoolGeometry {
  checkNchw(op, shape);
  const [N, C, H, W] = shape as [number, number, number, number];
  const k = toPair(op, 'kernelSize', a.kernel, 1);
  const s = toPair(op, 'stride', a.stride, 1);
  const p = toPair(op, 'padding', a.padding, 0);
  const d = toPair(op, 'dilation', a.dilation, 1);
  if (p[0] > Math.floor(k[0] / 2) || p[1] > Math.floor(k[1] / 2)) {
    throw new RangeError(`${op}: padding must be at most half the kernel size (kernelSize ${fmt(k)} allows padding up to ${fmt(k.map((u) => Math.floor(u / 2)))}), got ${fmt(p)}`);
  }
  const OH = poolOutputSize(H, k[0], s[0], p[0], d[0], a.ceilMode);
  const OW = poolOutputSize(W, k[1], s[1], p[1], d[1], a.ceilMode);
  if (OH < 1 || OW < 1) {
    throw new RangeError(`${op}: input ${fmt(shape)} is too small for kernelSize ${fmt(k)}, dilation ${fmt(d)}, padding ${fmt(p)}: output size would be [${OH}, ${OW}]`);
  }
  return { P: N * C, H, W, OH, OW, kh: k[0], kw: k[1], sh: s[0], sw: s[1], ph: p[0], pw: p[1], dh: d[0], dw: d[1] };
}

const avgGeometry = (op: string, shape: Shape, a: AvgPoolAttrs): PoolGeometry => poolGeometry(op, shape, { ...a, dilation: [1, 1] });

function adaptiveGeometry(op: string, shape: Shape, a: AdaptivePoolAttrs): PoolGeometry {
  checkNchw(op, shape);
  const [N, C, H, W] = shape as [number, number, number, number];
  const [OH, OW] = toPair(op, 'outputSize', a.outputSize, 1);
  return { P: N * C, H, W, OH, OW, kh: 0, kw: 0, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 };
}

const outShape = (shape: Shape, g: PoolGeometry): number[] => [shape[0]!, shape[1]!, g.OH, g.OW];

// ---- float64 references: each output visits its window explicitly, in row-major order ----

/** Calls f(plane, oh, ow, outIndex) for every output. */
function forOutputs(g: PoolGeometry, f: (plane: number, oh: number, ow: number, k: number) => void): void {
  let k = 0;
  for (let pl = 0; pl < g.P; pl++) for (let oh = 0; oh < g.OH; oh++) for (let ow = 0; ow < g.OW; ow++) f(pl, oh, ow, k++);
}

/** Max over each window and the flat input index of the first maximum (NaN wins, as PyTorch). */
function refMaxPool(x: RefTensor, g: PoolGeometry): { y: number[]; arg: number[] } {
  const y: number[] = [];
  const arg: number[] = [];
  forOutputs(g, (pl, oh, ow) => {
    let best = -Infinity;
    let at = -1;
    for (let i = 0; i < g.kh; i++) {
      for (let j = 0; j < g.kw; j++) {
        const ih = oh * g.sh - g.ph + i * g.dh;
        const iw = ow * g.sw - g.pw + j * g.dw;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
        const idx = (pl * g.H + ih) * g.W + iw;
        const v = x.data[idx]!;
        if (at < 0 || v > best || Number.isNaN(v)) { best = v; at = idx; }
      }
    }
    y.push(best);
    arg.push(at);
  });
  return { y, arg };
}

/** Each output's window as flat input indices, and its divisor. */
function refAvgWindows(g: PoolGeometry, window: (o: number, axis: 0 | 1) => { idx: number[]; count: number }): { idx: number[]; div: number }[] {
  const out: { idx: number[]; div: number }[] = [];
  forOutputs(g, (pl, oh, ow) => {
    const rows = window(oh, 0);
    const cols = window(ow, 1);
    const idx: number[] = [];
    for (const ih of rows.idx) for (const iw of cols.idx) idx.push((pl * g.H + ih) * g.W + iw);
    out.push({ idx, div: rows.count * cols.count });
  });
  return out;
}

function avgWindows(g: PoolGeometry, countIncludePad: boolean) {
  return refAvgWindows(g, (o, axis) => {
    const [n, k, s, p] = axis === 0 ? [g.H, g.kh, g.sh, g.ph] : [g.W, g.kw, g.sw, g.pw];
    // Positions of the padded input [-p, n + p) that the window covers; the divisor counts them all or only real ones.
    const covered: number[] = [];
    for (let i = o * s - p; i < o * s - p + k && i < n + p; i++) covered.push(i);
    const idx = covered.filter((i) => i >= 0 && i < n);
    return { idx, count: countIncludePad ? covered.length : idx.length };
  });
}

function adaptiveWindows(g: PoolGeometry) {
  return refAvgWindows(g, (o, axis) => {
    const [n, on] = axis === 0 ? [g.H, g.OH] : [g.W, g.OW];
    const idx: number[] = [];
    for (let i = Math.floor((o * n) / on); i < Math.ceil(((o + 1) * n) / on); i++) idx.push(i);
    return { idx, count: idx.length };
  });
}

function refAvgForward(x: RefTensor, shape: number[], wins: { idx: number[]; div: number }[]): RefTensor {
  return ref(shape, wins.map((w) => (w.idx.length ? w.idx.reduce((p, i) => p + x.data[i]!, 0) / w.div : 0)));
}

function refAvgBackward(x: RefTensor, gout: RefTensor, wins: { idx: number[]; div: number }[]): RefTensor {
  const gx = ref(x.shape);
  wins.forEach((w, k) => { for (const i of w.idx) gx.data[i] += gout.data[k]! / w.div; });
  return gx;
}

// ---- ops ----

function maxPoolForward(x: Tensor, a: PoolAttrs, op: string, relu: boolean): ForwardResult {
  const g = poolGeometry(op, x.shape, a);
  const y = empty(x.device, outShape(x.shape, g));
  const idx = empty(x.device, y.shape, 'int32');
  runMaxPool(x.device, g, x.storage.binding(), y.storage.binding(), idx.storage.binding(), relu);
  return { out: y, saved: { idx } };
}

function maxPoolBackward(gy: Tensor, idx: Tensor, shape: Shape, a: PoolAttrs, op: string): Tensor {
  const dx = empty(gy.device, shape);
  runMaxPoolBackward(gy.device, poolGeometry(op, shape, a), gy.storage.binding(), idx.storage.binding(), dx.storage.binding());
  return dx;
}

function refMaxPoolBackward(x: RefTensor, a: PoolAttrs, gout: RefTensor, op: string): RefTensor {
  const gx = ref(x.shape);
  refMaxPool(x, poolGeometry(op, x.shape, a)).arg.forEach((i, k) => { gx.data[i] += gout.data[k]!; });
  return gx;
}

export const maxPool2dOp = defineOp<PoolAttrs>({
  name: 'max_pool2d',
  forward: ([x], a) => maxPoolForward(x!, a, 'max_pool2d', false),
  save: ['idx'],
  backward: (gy, ctx) => [maxPoolBackward(gy, ctx.saved.idx!, ctx.inputShapes[0]!, ctx.attrs, 'max_pool2d')],
  reference: {
    forward: ([x], a) => ref(outShape(x!.shape, poolGeometry('max_pool2d', x!.shape, a)), refMaxPool(x!, poolGeometry('max_pool2d', x!.shape, a)).y),
    backward: ([x], a, _, gout) => [refMaxPoolBackward(x!, a, gout, 'max_pool2d')],
  },
  audit: maxPoolCases(),
});

/**
 * relu(max_pool2d(x)), which equals max_pool2d(relu(x)) in value and gradient (relu is monotone: the window's
 * first maximum is the same, and both give 0 where the maximum is <= 0), in one pass: the pool's epilogue
 * clamps, and the backward masks the pooled gradient, a quarter of the feature map for 2x2 windows.
 */
export const maxPool2dReluOp = defineOp<PoolAttrs>({
  name: 'max_pool2d_relu',
  forward: ([x], a) => maxPoolForward(x!, a, 'max_pool2d_relu', true),
  save: ['y', 'idx'],
  backward: (gy, ctx) => {
    const { y, idx } = ctx.saved as { y: Tensor; idx: Tensor };
    return [maxPoolBackward(reluBackwardFromOutput(gy, y), idx, ctx.inputShapes[0]!, ctx.attrs, 'max_pool2d_relu')];
  },
  reference: {
    forward: ([x], a) => {
      const g = poolGeometry('max_pool2d_relu', x!.shape, a);
      return ref(outShape(x!.shape, g), refMaxPool(x!, g).y.map((v) => (v < 0 ? 0 : v)));
    },
    backward: ([x], a, y, gout) => [refMaxPoolBackward(x!, a, { shape: gout.shape, data: gout.data.map((v, i) => (y.data[i]! > 0 ? v : 0)) }, 'max_pool2d_relu')],
  },
  audit: maxPoolReluCases(),
});

export const avgPool2dOp = defineOp<AvgPoolAttrs>({
  name: 'avg_pool2d',
  forward: ([x], a) => {
    const g = avgGeometry('avg_pool2d', x!.shape, a);
    const y = empty(x!.device, outShape(x!.shape, g));
    runAvgPool(x!.device, g, { adaptive: false, countIncludePad: a.countIncludePad }, false, x!.storage.binding(), y.storage.binding());
    return y;
  },
  backward: (gy, ctx) => {
    const shape = ctx.inputShapes[0]!;
    const g = avgGeometry('avg_pool2d', shape, ctx.attrs);
    const dx = empty(gy.device, shape);
    runAvgPool(gy.device, g, { adaptive: false, countIncludePad: ctx.attrs.countIncludePad }, true, gy.storage.binding(), dx.storage.binding());
    return [dx];
  },
  reference: {
    forward: ([x], a) => {
      const g = avgGeometry('avg_pool2d', x!.shape, a);
      return refAvgForward(x!, outShape(x!.shape, g), avgWindows(g, a.countIncludePad));
    },
    backward: ([x], a, _, gout) => [refAvgBackward(x!, gout, avgWindows(avgGeometry('avg_pool2d', x!.shape, a), a.countIncludePad))],
  },
  audit: avgPoolCases(),
});

export const adaptiveAvgPool2dOp = defineOp<AdaptivePoolAttrs>({
  name: 'adaptive_avg_pool2d',
  forward: ([x], a) => {
    const g = adaptiveGeometry('adaptive_avg_pool2d', x!.shape, a);
    const y = empty(x!.device, outShape(x!.shape, g));
    runAvgPool(x!.device, g, { adaptive: true, countIncludePad: false }, false, x!.storage.binding(), y.storage.binding());
    return y;
  },
  backward: (gy, ctx) => {
    const shape = ctx.inputShapes[0]!;
    const g = adaptiveGeometry('adaptive_avg_pool2d', shape, ctx.attrs);
    const dx = empty(gy.device, shape);
    runAvgPool(gy.device, g, { adaptive: true, countIncludePad: false }, true, gy.storage.binding(), dx.storage.binding());
    return [dx];
  },
  reference: {
    forward: ([x], a) => {
      const g = adaptiveGeometry('adaptive_avg_pool2d', x!.shape, a);
      return refAvgForward(x!, outShape(x!.shape, g), adaptiveWindows(g));
    },
    backward: ([x], a, _, gout) => [refAvgBackward(x!, gout, adaptiveWindows(adaptiveGeometry('adaptive_avg_pool2d', x!.shape, a)))],
  },
  audit: [
    ...([[[2, 3, 7, 7], [3, 3]], [[1, 2, 5, 7], [2, 4]], [[1, 2, 10, 9], [3, 4]], [[2, 2, 6, 6], [1, 1]], [[1, 2, 4, 4], [4, 4]],
      [[1, 2, 3, 5], [5, 7]], [[3, 1, 1, 1], [2, 3]]] as [number[], Pair][]).map(([s, os]) => ({
      name: `adaptive_avg_pool2d ${fmt(s)} -> ${fmt(os)}`, shapes: [s], attrs: { outputSize: os },
    })),
    { name: 'adaptive_avg_pool2d x1000', shapes: [[2, 2, 5, 5]], attrs: { outputSize: [3, 2] }, scale: 1e3 },
  ],
});

/** Mean over H and W: the reduce kernel's contiguous rows already are the planes. */
export const globalAvgPool2dOp = defineOp<Record<string, never>>({
  name: 'global_avg_pool2d',
  composite: true,
  forward: ([x]) => {
    checkNchw('global_avg_pool2d', x!.shape);
    return o.mean(x!, [2, 3]);
  },
  reference: {
    forward: ([x]) => {
      const [N, C, H, W] = x!.shape as [number, number, number, number];
      const y = ref([N, C]);
      for (let k = 0; k < N * C; k++) {
        let s = 0;
        for (let i = 0; i < H * W; i++) s += x!.data[k * H * W + i]!;
        y.data[k] = s / (H * W);
      }
      return y;
    },
    backward: ([x], _, __, gout) => {
      const hw = x!.shape[2]! * x!.shape[3]!;
      return [ref(x!.shape, Array.from(x!.data, (_v, i) => gout.data[Math.floor(i / hw)]! / hw))];
    },
  },
  audit: [
    { name: 'global_avg_pool2d [2,3,5,5]', shapes: [[2, 3, 5, 5]], attrs: {} },
    { name: 'global_avg_pool2d [1,4,1,1]', shapes: [[1, 4, 1, 1]], attrs: {} },
    { name: 'global_avg_pool2d [3,2,7,3]', shapes: [[3, 2, 7, 3]], attrs: {} },
    { name: 'global_avg_pool2d [2,2,20,20]', shapes: [[2, 2, 20, 20]], attrs: {} },
    { name: 'global_avg_pool2d x1000', shapes: [[2, 3, 4, 4]], attrs: {}, scale: 1e3 },
  ],
});

/** A pair from an audit case's constant (no checks: the geometry check runs in the op). */
function pr(v: IntPair): Pair {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function maxPoolCases(): AuditCase<PoolAttrs>[] {
  const mk = (shape: number[], k: IntPair, s: IntPair, p: IntPair, d: IntPair, ceilMode: boolean, extra: Partial<AuditCase<PoolAttrs>> = {}): AuditCase<PoolAttrs> => {
    const attrs: PoolAttrs = { kernel: pr(k), stride: pr(s), padding: pr(p), dilation: pr(d), ceilMode };
    const label = `k${fmt(attrs.kernel)} s${fmt(attrs.stride)} p${fmt(attrs.padding)} d${fmt(attrs.dilation)}${ceilMode ? ' ceil' : ''}`;
    return { name: `max_pool2d ${fmt(shape)} ${label}${extra.gen?.[0] === 'mask' ? ' ties' : ''}${extra.scale ? ` x${extra.scale}` : ''}`, shapes: [shape], attrs, gen: ['distinct'], ...extra };
  };
  // Tied values: the gradient goes to the first maximum in row-major window order (PyTorch). A finite
  // difference at a tie measures the average of the one-sided derivatives instead, so it is not run there.
  const ties = { gen: ['mask' as const], skipFiniteDiff: 'tied maxima: max_pool2d is not differentiable there; the first maximum gets the gradient, as PyTorch' };
  return [
    mk([2, 3, 6, 6], 2, 2, 0, 1, false),
    mk([2, 2, 7, 7], 3, 2, 1, 1, false),
    mk([1, 2, 5, 6], 3, 1, 0, 1, false),
    mk([1, 2, 7, 7], 2, 1, 0, 2, false),
    mk([1, 2, 9, 8], 3, 2, 1, 2, false),
    mk([1, 2, 8, 8], 3, 2, 0, 1, true),
    mk([1, 1, 6, 6], 3, 2, 1, 1, true),
    mk([1, 2, 5, 5], 2, 2, 1, 1, true),
    mk([1, 2, 5, 7], [2, 3], [1, 2], [1, 0], 1, false),
    mk([2, 3, 4, 4], 4, 4, 0, 1, false),
    mk([1, 2, 3, 3], 1, 1, 0, 1, false),
    mk([2, 2, 6, 6], 3, 2, 1, 1, false, ties),
    mk([1, 2, 5, 5], 3, 1, 1, 1, true, ties),
    mk([2, 2, 6, 5], 2, 2, 0, 1, false, { scale: 1e3 }),
    // kernel == stride without padding: the backward scatters from each window (pool_max_backward_tiled.wgsl);
    // odd sizes leave floor mode's last rows/cols outside every window, and cut ceil_mode's last windows.
    mk([1, 2, 7, 5], 2, 2, 0, 1, false),
    mk([1, 2, 8, 7], [3, 2], [3, 2], 0, 1, false),
    mk([1, 2, 5, 7], 2, 2, 0, 1, true),
    mk([1, 2, 7, 8], 3, 3, 0, 1, true),
    mk([2, 2, 4, 6], 2, 2, 0, 1, false, ties),
  ];
}

function maxPoolReluCases(): AuditCase<PoolAttrs>[] {
  const attrs = (k: number, s: number, p: number, ceilMode = false): PoolAttrs => ({ kernel: [k, k], stride: [s, s], padding: [p, p], dilation: [1, 1], ceilMode });
  // 'distinct' values are centred on 0, so some windows are all negative (gradient 0) and some are not.
  return [
    { name: 'max_pool2d_relu [2,3,6,6] k2 s2 (tiled windows)', shapes: [[2, 3, 6, 6]], attrs: attrs(2, 2, 0), gen: ['distinct'] },
    { name: 'max_pool2d_relu [1,2,7,7] k3 s2 p1', shapes: [[1, 2, 7, 7]], attrs: attrs(3, 2, 1), gen: ['distinct'] },
    { name: 'max_pool2d_relu [1,2,7,5] k2 s2 (floor remainder)', shapes: [[1, 2, 7, 5]], attrs: attrs(2, 2, 0), gen: ['distinct'] },
    { name: 'max_pool2d_relu [2,2,4,6] k2 s2 ties', shapes: [[2, 2, 4, 6]], attrs: attrs(2, 2, 0), gen: ['mask'], skipFiniteDiff: 'tied maxima: the first maximum gets the gradient, as PyTorch' },
  ];
}

function avgPoolCases(): AuditCase<AvgPoolAttrs>[] {
  const out: AuditCase<AvgPoolAttrs>[] = [];
  const geoms: [number[], IntPair, IntPair, IntPair, boolean][] = [
    [[2, 3, 6, 6], 2, 2, 0, false],
    [[2, 2, 7, 7], 3, 2, 1, false],
    [[1, 3, 7, 5], 3, 1, 1, false],
    [[1, 2, 6, 6], 3, 2, 0, true],
    [[1, 2, 6, 6], 3, 2, 1, true],
    [[1, 2, 5, 5], 2, 2, 1, true],
    [[1, 2, 5, 7], [2, 3], [1, 2], [1, 1], true],
  ];
  for (const [shape, k, s, p, ceilMode] of geoms) {
    for (const countIncludePad of [true, false]) {
      const attrs: AvgPoolAttrs = { kernel: pr(k), stride: pr(s), padding: pr(p), ceilMode, countIncludePad };
      out.push({ name: `avg_pool2d ${fmt(shape)} k${fmt(attrs.kernel)} s${fmt(attrs.stride)} p${fmt(attrs.padding)}${ceilMode ? ' ceil' : ''}${countIncludePad ? '' : ' exclude pad'}`, shapes: [shape], attrs });
    }
  }
  out.push({ name: 'avg_pool2d x1000', shapes: [[2, 2, 6, 5]], attrs: { kernel: [2, 2], stride: [2, 2], padding: [1, 1], ceilMode: false, countIncludePad: true }, scale: 1e3 });
  return out;
}

// ---- public functions ----

/**
 * max_pool2d of x [N, C, H, W] (stride defaults to kernelSize). Differentiable in x. `activation: 'relu'` gives
 * relu(max_pool2d(x)) = max_pool2d(relu(x)) in one op (max_pool2d_relu).
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions & { activation?: 'none' | 'relu' }): Tensor {
  const op = 'max_pool2d';
  const kernel = toPair(op, 'kernelSize', opts.kernelSize, 1);
  const act = opts.activation ?? 'none';
  if (act !== 'none' && act !== 'relu') throw new RangeError(`max_pool2d: activation must be 'none' or 'relu', got ${JSON.stringify(act)}`);
  return (act === 'relu' ? maxPool2dReluOp : maxPool2dOp)([x], {
    kernel, stride: toPair(op, 'stride', opts.stride ?? kernel, 1), padding: toPair(op, 'padding', opts.padding ?? 0, 0),
    dilation: toPair(op, 'dilation', opts.dilation ?? 1, 1), ceilMode: opts.ceilMode ?? false,
  });
}

/** avg_pool2d of x [N, C, H, W] (stride defaults to kernelSize, countIncludePad to true). Differentiable in x. */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const op = 'avg_pool2d';
  const kernel = toPair(op, 'kernelSize', opts.kernelSize, 1);
  return avgPool2dOp([x], {
    kernel, stride: toPair(op, 'stride', opts.stride ?? kernel, 1), padding: toPair(op, 'padding', opts.padding ?? 0, 0),
    ceilMode: opts.ceilMode ?? false, countIncludePad: opts.countIncludePad ?? true,
  });
}

/** adaptive_avg_pool2d of x [N, C, H, W] to [N, C, oh, ow]. Differentiable in x. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: IntPair): Tensor {
  return adaptiveAvgPool2dOp([x], { outputSize: toPair('adaptive_avg_pool2d', 'outputSize', outputSize, 1) });
}

/** Mean over H and W: [N, C, H, W] -> [N, C]. Differentiable in x. */
export function globalAvgPool2d(x: Tensor): Tensor {
  return globalAvgPool2dOp([x], {});
}

// Case params (REFERENCE_CASES.md): single ints (or [h, w]); stride null means kernel_size, as in PyTorch.
function casePair(p: CaseParams, k: string, fallback: IntPair | null): IntPair {
  const v = p[k];
  if (v === undefined || v === null) {
    if (fallback === null) throw new TypeError(`params.${k}: expected an int or [h, w], got ${JSON.stringify(v)}`);
    return fallback;
  }
  return typeof v === 'number' ? v : (param.ints(p, k) as unknown as IntPair);
}
registerCaseAdapter('max_pool2d', (x, p) => {
  const kernelSize = casePair(p, 'kernel_size', null);
  return { y: maxPool2d(x.x!, { kernelSize, stride: casePair(p, 'stride', kernelSize), padding: casePair(p, 'padding', 0), dilation: casePair(p, 'dilation', 1), ceilMode: param.bool(p, 'ceil_mode') }) };
}, { inputs: ['x'] });
registerCaseAdapter('avg_pool2d', (x, p) => {
  const kernelSize = casePair(p, 'kernel_size', null);
  return { y: avgPool2d(x.x!, { kernelSize, stride: casePair(p, 'stride', kernelSize), padding: casePair(p, 'padding', 0), ceilMode: param.bool(p, 'ceil_mode'), countIncludePad: param.bool(p, 'count_include_pad', true) }) };
}, { inputs: ['x'] });
registerCaseAdapter('adaptive_avg_pool2d', (x, p) => ({ y: adaptiveAvgPool2d(x.x!, casePair(p, 'output_size', null)) }), { inputs: ['x'] });
registerCaseAdapter('global_avg_pool2d', (x) => ({ y: globalAvgPool2d(x.x!) }), { inputs: ['x'] });
