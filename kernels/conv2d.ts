/**
 * Wrappers of the conv2d kernels: forward (conv2d_fwd.wgsl), input gradient (conv2d_dx.wgsl) and weight
 * gradient (conv2d_dw.wgsl + conv2d_dw_reduce.wgsl). All three are implicit GEMMs on matmul.wgsl's core: 8x8
 * threads, each with a ROWS x 4*COLS4 block of outputs in registers, the block chosen per call from the GEMM's
 * shape. 1x1 stride-1 unpadded ungrouped convolutions without an epilogue are plain batched GEMMs and go
 * through the matmul kernel itself.
 */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';
import { runMatmul } from './matmul.js';

const fwd = Kernel.fromFile('conv2d_fwd', 'conv2d_fwd.wgsl');
const dx = Kernel.fromFile('conv2d_dx', 'conv2d_dx.wgsl');
const dxStrip = Kernel.fromFile('conv2d_dx_strip', 'conv2d_dx_strip.wgsl');
const dw = Kernel.fromFile('conv2d_dw', 'conv2d_dw.wgsl');
const dwTaps = Kernel.fromFile('conv2d_dw_taps', 'conv2d_dw_taps.wgsl');
const dwReduce = Kernel.fromFile('conv2d_dw_reduce', 'conv2d_dw_reduce.wgsl');

const THREADS = 8;
const MAX_GROUPS = 65535;

/** Everything the kernels need to know about one convolution (NCHW input, OIHW weight). */
export interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  O: number; OH: number; OW: number; KH: number; KW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
}

export type ConvActivation = 'none' | 'relu';
const ACT = { none: 0, relu: 1 } as const;

/** Outputs per thread: `rows` GEMM rows x 4*`cols4` columns (the kernels' ROWS and COLS4 overrides). */
export interface ConvBlock { rows: number; cols4: number }

function shapeParams(g: ConvGeometry) {
  return {
    N: g.N, C: g.C, H: g.H, W: g.W, O: g.O, OH: g.OH, OW: g.OW, KH: g.KH, KW: g.KW,
    sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, dh: g.dh, dw: g.dw, Cg: g.C / g.groups, Og: g.O / g.groups,
  };
}

/** A 1x1, stride-1, unpadded, ungrouped convolution: y[n] = w[O, C] @ x[n][C, H*W]. */
export function isPointwise(g: ConvGeometry): boolean {
  return g.KH === 1 && g.KW === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0 && g.groups === 1;
}

/**
 * The blocks the kernels are compiled for. Each is a pipeline that lavapipe takes 0.3-2 s to compile on first
 * use (LLVM on the unrolled loops), so the menu is short: 16 x 16 and 12 x 16 for large operands, 8 x 16 for
 * 16-channel multiples, 12 x 4 for few columns, 4 x 4 for tiny operands.
 */
export const CONV_BLOCKS: readonly ConvBlock[] = [{ rows: 16, cols4: 4 }, { rows: 12, cols4: 4 }, { rows: 8, cols4: 4 }, { rows: 12, cols4: 1 }, { rows: 4, cols4: 1 }];

/**
 * The per-thread block for a GEMM of `rows` x `cols`, whose columns come in `segments` equal runs blocked
 * separately (the weight gradient's taps). On lavapipe a step of the reduction costs about one bounds-checked
 * per-lane load per row and per column against rows*cols multiply-adds run 8 lanes wide. In the forward and
 * input-gradient kernels the 8 lanes of a SIMD row read the same weights (the rows), and a row's load is
 * counted as half a column's (`uniformRows`): a weight fitted to the measurements below, not derived (lavapipe
 * still issues a checked load per lane). So the cost per useful output is (u*R + C)/(R*C), times the share of
 * the block's rows and columns past the edge.
 * Measured on lavapipe (GPU timestamps, median of 15): 16 x 16 against 12 x 16 took 21 vs 25 ms forward and 17 vs
 * 29 ms input gradient on 16 -> 32 channels at 14x14, batch 64; 77 vs 91 and 83 vs 92 ms on 64 -> 64 at 32x32, batch 8.
 */
export function chooseConvBlock(rows: number, cols: number, segments = 1, uniformRows = false, maxOutputs = Infinity): ConvBlock {
  const menu = CONV_BLOCKS.filter((b) => b.rows * 4 * b.cols4 <= maxOutputs);
  let best = menu[0] ?? CONV_BLOCKS[CONV_BLOCKS.length - 1]!;
  let bestCost = Infinity;
  const seg = Math.max(1, cols / segments);
  const u = uniformRows ? 0.5 : 1;
  for (const b of menu) {
    const r = b.rows;
    const c = 4 * b.cols4;
    const colSlots = segments * Math.ceil(seg / c) * c;
    const waste = (Math.ceil(rows / r) * r / Math.max(1, rows)) * (colSlots / Math.max(1, cols));
    const cost = ((u * r + c) / (r * c)) * waste;
    if (cost < bestCost - 1e-12) { best = b; bestCost = cost; }
  }
  return best;
}

function checkBlock(op: string, b: ConvBlock): void {
  if (!Number.isInteger(b.rows) || b.rows < 1 || b.rows > 16 || !Number.isInteger(b.cols4) || b.cols4 < 1 || b.cols4 > 4) {
    throw new RangeError(`${op}: block ${b.rows}x${4 * b.cols4} is outside 1..16 rows x 4..16 columns`);
  }
}

/** Workgroups for `tiles` column tiles (folded into z past the x limit), `rows` GEMM rows, `zgroups` slices. */
function grid(op: string, tiles: number, rows: number, zgroups: number, b: ConvBlock): { workgroups: [number, number, number] } {
  tiles = Math.max(1, tiles);
  const x = Math.min(tiles, MAX_GROUPS);
  const z = zgroups * Math.ceil(tiles / x);
  const y = Math.ceil(rows / (THREADS * b.rows));
  if (z > MAX_GROUPS || y > MAX_GROUPS) throw new RangeError(`${op}: the convolution is too large to dispatch (${tiles} pixel tiles x ${rows} channels x ${zgroups} groups)`);
  return { workgroups: [x, y, z] };
}

/** y = act(conv2d(x, w) + bias); bias may be null. `block` forces the per-thread block (benchmarks, tests). */
export function runConv2dForward(d: Dispatcher, x: GPUBufferBinding, w: GPUBufferBinding, bias: GPUBufferBinding | null,
  y: GPUBufferBinding, g: ConvGeometry, act: ConvActivation = 'none', block?: ConvBlock): void {
  if (g.N === 0 || g.O === 0 || g.OH === 0 || g.OW === 0) return;
  if (!block && !bias && act === 'none' && isPointwise(g) && g.N <= MAX_GROUPS) {
    runMatmul(d, w, x, y, { M: g.O, N: g.H * g.W, K: g.C, batch: g.N, aStride: 0, bStride: g.C * g.H * g.W, transA: false, transB: false });
    return;
  }
  const p = shapeParams(g);
  const cols = g.N * g.OH * g.OW;
  const b = block ?? chooseConvBlock(p.Og, cols, 1, true, d.maxOutputsPerThread);
  checkBlock('conv2d', b);
  d.run(fwd, {
    buffers: { x, w, bias: bias ?? w, y },
    params: { ...p, zgroups: g.groups },
    overrides: { HAS_BIAS: bias !== null, ACT: ACT[act], ROWS: b.rows, COLS4: b.cols4 },
    ...grid('conv2d', Math.ceil(cols / (THREADS * 4 * b.cols4)), p.Og, g.groups, b),
  });
}

/** Pixels per thread of conv2d_dx_strip.wgsl. */
const STRIP = 16;

/**
 * Stride 1, dilation 1, at most 4 input channels per group and kernels at most 7 wide take conv2d_dx_strip.wgsl.
 * On lavapipe, the first layer of the small CNN ([64,1,28,28], 16 filters 3x3) took 20-35 ms in conv2d_dx.wgsl.
 */
export function usesStripInputGrad(g: ConvGeometry): boolean {
  return g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1 && g.C / g.groups <= 4 && g.KW <= 7;
}

/** dx = the gradient of sum(gy * conv2d(x, w)) with respect to x (every element of dx is written). */
export function runConv2dInputGrad(d: Dispatcher, gy: GPUBufferBinding, w: GPUBufferBinding, out: GPUBufferBinding, g: ConvGeometry, block?: ConvBlock): void {
  if (g.N === 0 || g.C === 0 || g.H === 0 || g.W === 0) return;
  if (!block && isPointwise(g) && g.N <= MAX_GROUPS) {
    // dx[n][C, HW] = w^T [C, O] @ gy[n][O, HW]
    runMatmul(d, w, gy, out, { M: g.C, N: g.H * g.W, K: g.O, batch: g.N, aStride: 0, bStride: g.O * g.H * g.W, transA: true, transB: false });
    return;
  }
  const p = shapeParams(g);
  if (!block && usesStripInputGrad(g)) {
    const threads = g.groups * g.N * g.H * Math.ceil(g.W / STRIP);
    d.run(dxStrip, {
      buffers: { gy, w, dx: out },
      params: { N: g.N, C: g.C, H: g.H, W: g.W, O: g.O, OH: g.OH, OW: g.OW, ph: g.ph, pw: g.pw, Og: p.Og, groups: g.groups },
      overrides: { ROWS: p.Cg, KH: g.KH, KW: g.KW },
      workgroups: grid1d(threads, 64),
    });
    return;
  }
  const phases = g.sh * g.sw;
  // The largest phase is the first: ceil(H / sh) x ceil(W / sw) pixels per image.
  const cols = g.N * Math.ceil(g.H / g.sh) * Math.ceil(g.W / g.sw);
  const b = block ?? chooseConvBlock(p.Cg, cols, 1, true, d.maxOutputsPerThread);
  checkBlock('conv2d input gradient', b);
  // Phases are interleaved along x: lavapipe hands each thread a contiguous range of workgroups, and the
  // phases' work differs (with a strided 1x1 conv, all of it is in one phase).
  d.run(dx, {
    buffers: { gy, w, dx: out },
    params: { ...p, zgroups: g.groups },
    overrides: { ROWS: b.rows, COLS4: b.cols4 },
    ...grid('conv2d input gradient', Math.ceil(cols / (THREADS * 4 * b.cols4)) * phases, p.Cg, g.groups, b),
  });
}

export interface WeightGradPlan {
  /**
   * 'blocked': conv2d_dw.wgsl, ROWS output channels x 4*COLS4 input channels at one tap per thread (any kernel
   * size); 'taps': conv2d_dw_taps.wgsl, `block.rows` output channels x every tap of one input channel (kernels
   * of 2 to 9 taps; block.cols4 is unused).
   */
  kernel: 'blocked' | 'taps';
  block: ConvBlock;
  /** Split-K chunks (1: no partial sums, the kernel writes dw directly). */
  chunks: number;
  /** Output rows (n, oh) per chunk. */
  rowsPer: number;
  /** Floats of the partial-sum buffer (0 when chunks is 1). */
  partialSize: number;
}

/** Enough workgroups to fill a large GPU; lavapipe is indifferent as long as both cores have work. */
const TARGET_WORKGROUPS = 512;
/** Below this many products per chunk and thread, the partial sums cost more than they parallelise. */
const MIN_CHUNK_PIXELS = 256;
/** Cap on the partial-sum buffer (floats): 16 MiB. */
const MAX_PARTIAL = 1 << 22;

/** Threads per workgroup of the weight-gradient kernel (its thread blocks are numbered linearly). */
const DW_WG = 64;

function weightGradBlocks(g: ConvGeometry, b: ConvBlock): number {
  return Math.ceil(g.O / g.groups / b.rows) * g.KH * g.KW * Math.ceil(g.C / g.groups / (4 * b.cols4));
}

/** Kernels of at most this many taps take conv2d_dw_taps.wgsl (its per-thread accumulators: rows x taps). */
const MAX_TAPS = 9;
/**
 * ... when the group has fewer input channels than this. The blocked kernel's columns are 4*COLS4 input
 * channels at one tap, so with few channels it computes mostly padding: with one channel (the first layer of a
 * grey-image CNN) the taps kernel took 2.6-4.4 ms where the blocked one took 39-75 ms (lavapipe, [64,1,28,28],
 * 16 filters). From 16 channels on the two measured alike (16 -> 32 channels on 14x14, batch 64: 29-47 ms each).
 */
const TAPS_BELOW_CHANNELS = 16;
/** Threads the taps kernel aims for across its chunks (its threads are fatter than the blocked kernel's). */
const TARGET_TAP_THREADS = 16384;

/** Output channels per thread of the taps kernel: the fewest of 4, 8, 16 that cover Og, else 16, within the budget of outputs. */
function tapRows(Og: number, taps: number, maxOutputs: number): number {
  const want = Og > 8 ? 16 : Og > 4 ? 8 : 4;
  return [16, 8, 4].find((r) => r <= want && r * taps <= maxOutputs) ?? 4;
}

/**
 * The kernel, block and how the weight gradient's reduction over N*OH*OW is split into chunks. `block` and
 * `forceChunks` force the choice (benchmarks, tests); a forced block selects the blocked kernel.
 */
export function weightGradPlan(g: ConvGeometry, block?: ConvBlock, forceChunks?: number, maxOutputs = Infinity): WeightGradPlan {
  const Og = g.O / g.groups;
  const Cg = g.C / g.groups;
  const taps = g.KH * g.KW;
  const kernel = !block && taps > 1 && taps <= MAX_TAPS && Cg < TAPS_BELOW_CHANNELS ? 'taps' : 'blocked';
  const b = kernel === 'taps' ? { rows: tapRows(Og, taps, maxOutputs), cols4: 1 } : block ?? chooseConvBlock(Og, Cg * taps, taps, false, maxOutputs);
  checkBlock('conv2d weight gradient', b);
  const numel = g.O * Cg * taps;
  const rows = g.N * g.OH;
  let chunks = kernel === 'taps'
    ? Math.ceil(TARGET_TAP_THREADS / (g.groups * Math.ceil(Og / b.rows) * Cg))
    : Math.ceil(TARGET_WORKGROUPS / (Math.ceil(weightGradBlocks(g, b) / DW_WG) * g.groups));
  chunks = Math.min(chunks, Math.floor((rows * g.OW) / MIN_CHUNK_PIXELS), Math.floor(MAX_PARTIAL / Math.max(1, numel)), Math.floor(MAX_GROUPS / g.groups));
  chunks = Math.max(1, Math.min(forceChunks ?? chunks, rows));
  const rowsPer = Math.max(1, Math.ceil(rows / chunks));
  chunks = Math.max(1, Math.ceil(rows / rowsPer));
  return { kernel, block: b, chunks, rowsPer, partialSize: chunks > 1 ? chunks * numel : 0 };
}

/**
 * dw = the gradient of sum(gy * conv2d(x, w)) with respect to w, following `plan` (weightGradPlan). `part`
 * holds plan.partialSize floats (ignored when plan.chunks is 1).
 */
export function runConv2dWeightGrad(d: Dispatcher, x: GPUBufferBinding, gy: GPUBufferBinding, part: GPUBufferBinding | null,
  out: GPUBufferBinding, g: ConvGeometry, plan: WeightGradPlan): void {
  const p = shapeParams(g);
  const numel = g.O * p.Cg * g.KH * g.KW;
  if (numel === 0) return;
  if (plan.chunks > 1 && !part) throw new Error('conv2d weight gradient: a partial-sum buffer is needed for split-K');
  const target = plan.chunks > 1 ? part! : out;
  const b = plan.block;
  if (plan.kernel === 'taps') {
    const threads = g.groups * plan.chunks * Math.ceil(p.Og / b.rows) * p.Cg;
    d.run(dwTaps, {
      buffers: { x, gy, part: target },
      params: { ...p, groups: g.groups, chunks: plan.chunks, rows_per: plan.rowsPer },
      overrides: { ROWS: b.rows, KH: g.KH, KW: g.KW },
      workgroups: grid1d(threads, DW_WG),
    });
  } else {
    const tiles = Math.ceil(weightGradBlocks(g, b) / DW_WG);
    if (tiles > MAX_GROUPS) throw new RangeError(`conv2d weight gradient: the weight [${g.O}, ${p.Cg}, ${g.KH}, ${g.KW}] is too large to dispatch`);
    d.run(dw, {
      buffers: { x, gy, part: target },
      params: { ...p, chunks: plan.chunks, rows_per: plan.rowsPer },
      overrides: { ROWS: b.rows, COLS4: b.cols4 },
      workgroups: [tiles, 1, g.groups * plan.chunks],
    });
  }
  if (plan.chunks > 1) d.run(dwReduce, { buffers: { part: target, dw: out }, params: { numel, chunks: plan.chunks }, workgroups: grid1d(numel, 256) });
}
