/**
 * Wrappers of the conv2d kernels: forward (conv2d_fwd.wgsl), input gradient (conv2d_dx.wgsl) and weight
 * gradient (conv2d_dw.wgsl + conv2d_dw_reduce.wgsl). All three are implicit GEMMs on matmul.wgsl's core: 8x8
 * threads, each with a ROWS x 4*COLS4 block of outputs in registers, the block chosen per call from the GEMM's
 * shape. 1x1 stride-1 unpadded ungrouped convolutions without an epilogue are plain batched GEMMs and go
 * through the matmul kernel itself. Each pass also has a workgroup-tiled variant for GPUs
 * (conv2d_{fwd,dx,dw}_tiled.wgsl on lib/gemm_tiled.wgsl).
 *
 * One selection function per pass (conv2d{Forward,InputGrad,WeightGrad}Plan) returns the plan a run function
 * follows: today's kernels and blocks ('default', what a software adapter runs) or a tile, in the order of
 * kernels/choice.ts (forced, tuned per shape class, cost model on a GPU). A plan passed in forces it.
 */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';
import { runMatmul } from './matmul.js';
import {
  DEFAULT_CHOICE, bucket, choiceLabel, registerTunable, resolveChoice, tileCandidates, tileFits, tileStorageBytes, tiledCostModel,
  type KernelChoice, type KernelOp, type Tile,
} from './choice.js';

/** The pass kernels; the f16 set reads float16 x, w and gy (mixed precision) and writes f32 like the other. */
function passKernels(half: boolean) {
  const f = (name: string, inputs: string[]) => Kernel.fromFile(half ? `${name}_f16` : name, `${name}.wgsl`, half ? { halfInputs: inputs } : {});
  return {
    fwd: f('conv2d_fwd', ['x', 'w']),
    dx: f('conv2d_dx', ['gy', 'w']),
    dxStrip: f('conv2d_dx_strip', ['gy', 'w']),
    dw: f('conv2d_dw', ['x', 'gy']),
    dwTaps: f('conv2d_dw_taps', ['x', 'gy']),
    fwdTiled: f('conv2d_fwd_tiled', ['x', 'w', 'w4']),
    dxTiled: f('conv2d_dx_tiled', ['gy', 'w']),
    dwTiled: f('conv2d_dw_tiled', ['x', 'gy', 'gy4']),
  };
}
const KERNELS = { f32: passKernels(false), f16: passKernels(true) };
const kernelsOf = (g: ConvGeometry) => KERNELS[g.half ? 'f16' : 'f32'];
const dwReduce = Kernel.fromFile('conv2d_dw_reduce', 'conv2d_dw_reduce.wgsl');

const THREADS = 8;
const MAX_GROUPS = 65535;

/** Everything the kernels need to know about one convolution (NCHW input, OIHW weight). */
export interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  O: number; OH: number; OW: number; KH: number; KW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
  /** x, w and gy are float16 storage (mixed precision); outputs, bias and partial sums stay f32. */
  half?: boolean;
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

/** How a forward pass runs: as a plain GEMM (pointwise), register-blocked with a block, or tiled. */
export type ConvForwardPlan = { kernel: 'matmul' } | { kernel: 'blocked'; block: ConvBlock } | { kernel: 'tiled'; tile: Tile };

/** Today's forward plan (a software adapter's): pointwise convolutions without an epilogue as a GEMM, else blocked. */
function defaultForwardPlan(d: Dispatcher, g: ConvGeometry, epilogue: boolean): ConvForwardPlan {
  if (!epilogue && isPointwise(g) && g.N <= MAX_GROUPS) return { kernel: 'matmul' };
  return { kernel: 'blocked', block: chooseConvBlock(g.O / g.groups, g.N * g.OH * g.OW, 1, true, d.maxOutputsPerThread) };
}

/**
 * The forward plan of one call; `epilogue`: a bias or an activation is fused (the pointwise GEMM has none).
 */
export function conv2dForwardPlan(d: Dispatcher, g: ConvGeometry, epilogue = false): ConvForwardPlan {
  const dims = gemmDims('conv2d_fwd', g);
  const c = resolveChoice(d, 'conv2d_fwd', convClass('conv2d_fwd', g), g, () => tiledCostModel(d, dims.M, dims.N, dims.K, g.groups),
    (c) => (c.variant === 'tiled' ? tiledUnfit(d, 'conv2d_fwd', g, c.tile) : null));
  return c.variant === 'tiled' ? { kernel: 'tiled', tile: c.tile } : defaultForwardPlan(d, g, epilogue);
}

/** y = act(conv2d(x, w) + bias); bias may be null. `plan` forces the kernel (benchmarks, tests, the tuner). */
export function runConv2dForward(d: Dispatcher, x: GPUBufferBinding, w: GPUBufferBinding, bias: GPUBufferBinding | null,
  y: GPUBufferBinding, g: ConvGeometry, act: ConvActivation = 'none', plan?: ConvForwardPlan): void {
  if (g.N === 0 || g.O === 0 || g.OH === 0 || g.OW === 0) return;
  const epilogue = bias !== null || act !== 'none';
  const pl = plan ?? conv2dForwardPlan(d, g, epilogue);
  if (pl.kernel === 'matmul') {
    if (epilogue || !isPointwise(g) || g.N > MAX_GROUPS) throw new RangeError('conv2d: the plain-GEMM plan needs a pointwise convolution without bias or activation, and at most 65535 images');
    runMatmul(d, w, x, y, { M: g.O, N: g.H * g.W, K: g.C, batch: g.N, aStride: 0, bStride: g.C * g.H * g.W, transA: false, transB: false, half: g.half });
    return;
  }
  const p = shapeParams(g);
  if (pl.kernel === 'tiled') {
    const t = checkTile(d, 'conv2d_fwd', g, pl.tile);
    const K = p.Cg * g.KH * g.KW;
    d.run(kernelsOf(g).fwdTiled, {
      buffers: { x, w, bias: bias ?? w, y, w4: vec4View(w) },
      params: p,
      overrides: { HAS_BIAS: bias !== null, ACT: ACT[act], VEC_A: K % 4 === 0 && vec4Aligned(w), TM: t.tm, TN4: t.tn4, BK: t.bk },
      workgroups: tiledGrid('conv2d_fwd', g, t),
    });
    return;
  }
  const cols = g.N * g.OH * g.OW;
  const b = pl.block;
  checkBlock('conv2d', b);
  d.run(kernelsOf(g).fwd, {
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

/** How an input-gradient pass runs: as a plain GEMM (pointwise), the strip kernel, register-blocked, or tiled. */
export type ConvInputGradPlan = { kernel: 'matmul' } | { kernel: 'strip' } | { kernel: 'blocked'; block: ConvBlock } | { kernel: 'tiled'; tile: Tile };

function defaultInputGradPlan(d: Dispatcher, g: ConvGeometry): ConvInputGradPlan {
  if (isPointwise(g) && g.N <= MAX_GROUPS) return { kernel: 'matmul' };
  if (usesStripInputGrad(g)) return { kernel: 'strip' };
  const cols = g.N * Math.ceil(g.H / g.sh) * Math.ceil(g.W / g.sw);
  return { kernel: 'blocked', block: chooseConvBlock(g.C / g.groups, cols, 1, true, d.maxOutputsPerThread) };
}

/** The input-gradient plan of one call. The strip kernel's few channels are not worth a tile (cost model). */
export function conv2dInputGradPlan(d: Dispatcher, g: ConvGeometry): ConvInputGradPlan {
  const dims = gemmDims('conv2d_dx', g);
  const c = resolveChoice(d, 'conv2d_dx', convClass('conv2d_dx', g), g,
    () => (usesStripInputGrad(g) ? DEFAULT_CHOICE : tiledCostModel(d, dims.M, dims.N, dims.K, g.groups * g.sh * g.sw)),
    (c) => (c.variant === 'tiled' ? tiledUnfit(d, 'conv2d_dx', g, c.tile) : null));
  return c.variant === 'tiled' ? { kernel: 'tiled', tile: c.tile } : defaultInputGradPlan(d, g);
}

/** dx = the gradient of sum(gy * conv2d(x, w)) with respect to x (every element of dx is written). */
export function runConv2dInputGrad(d: Dispatcher, gy: GPUBufferBinding, w: GPUBufferBinding, out: GPUBufferBinding, g: ConvGeometry, plan?: ConvInputGradPlan): void {
  if (g.N === 0 || g.C === 0 || g.H === 0 || g.W === 0) return;
  const pl = plan ?? conv2dInputGradPlan(d, g);
  if (pl.kernel === 'matmul') {
    if (!isPointwise(g) || g.N > MAX_GROUPS) throw new RangeError('conv2d input gradient: the plain-GEMM plan needs a pointwise convolution and at most 65535 images');
    // dx[n][C, HW] = w^T [C, O] @ gy[n][O, HW]
    runMatmul(d, w, gy, out, { M: g.C, N: g.H * g.W, K: g.O, batch: g.N, aStride: 0, bStride: g.O * g.H * g.W, transA: true, transB: false, half: g.half });
    return;
  }
  const p = shapeParams(g);
  if (pl.kernel === 'strip') {
    if (!usesStripInputGrad(g)) throw new RangeError(`conv2d input gradient: the strip kernel needs stride 1, dilation 1, at most 4 channels per group and kernels at most 7 wide`);
    const threads = g.groups * g.N * g.H * Math.ceil(g.W / STRIP);
    d.run(kernelsOf(g).dxStrip, {
      buffers: { gy, w, dx: out },
      params: { N: g.N, C: g.C, H: g.H, W: g.W, O: g.O, OH: g.OH, OW: g.OW, ph: g.ph, pw: g.pw, Og: p.Og, groups: g.groups },
      overrides: { ROWS: p.Cg, KH: g.KH, KW: g.KW },
      workgroups: grid1d(threads, 64),
    });
    return;
  }
  if (pl.kernel === 'tiled') {
    const t = checkTile(d, 'conv2d_dx', g, pl.tile);
    d.run(kernelsOf(g).dxTiled, { buffers: { gy, w, dx: out }, params: p, overrides: { TM: t.tm, TN4: t.tn4, BK: t.bk }, workgroups: tiledGrid('conv2d_dx', g, t) });
    return;
  }
  const phases = g.sh * g.sw;
  // The largest phase is the first: ceil(H / sh) x ceil(W / sw) pixels per image.
  const cols = g.N * Math.ceil(g.H / g.sh) * Math.ceil(g.W / g.sw);
  const b = pl.block;
  checkBlock('conv2d input gradient', b);
  // Phases are interleaved along x: lavapipe hands each thread a contiguous range of workgroups, and the
  // phases' work differs (with a strided 1x1 conv, all of it is in one phase).
  d.run(kernelsOf(g).dx, {
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
   * of 2 to 9 taps; block.cols4 is unused); 'tiled': conv2d_dw_tiled.wgsl with `tile` (block unused).
   */
  kernel: 'blocked' | 'taps' | 'tiled';
  block: ConvBlock;
  tile?: Tile;
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

/** Workgroups a tiled weight gradient aims for across its chunks (a large GPU; lavapipe is indifferent). */
const TILED_TARGET_WORKGROUPS = 1024;
/** Fewest output pixels per chunk of the tiled weight gradient: each chunk's tile pays its staging. */
const TILED_MIN_CHUNK_PIXELS = 1024;

/** The tiled weight gradient's split: enough chunks to fill the GPU, rows per chunk keeping vec4 reads of gy. */
export function tiledWeightGradPlan(g: ConvGeometry, tile: Tile, forceChunks?: number): WeightGradPlan {
  const Og = g.O / g.groups;
  const NQ = (g.C / g.groups) * g.KH * g.KW;
  const numel = g.O * NQ;
  const rows = g.N * g.OH;
  const tiles = Math.ceil(Og / (16 * tile.tm)) * Math.ceil(NQ / (64 * tile.tn4)) * g.groups;
  let chunks = Math.ceil(TILED_TARGET_WORKGROUPS / tiles);
  chunks = Math.min(chunks, Math.floor((rows * g.OW) / TILED_MIN_CHUNK_PIXELS), Math.floor(MAX_PARTIAL / Math.max(1, numel)), Math.floor(MAX_GROUPS / g.groups));
  chunks = Math.max(1, Math.min(forceChunks ?? chunks, rows));
  let rowsPer = Math.max(1, Math.ceil(rows / chunks));
  // A chunk of a multiple of 4 pixels keeps gy's vec4 reads (conv2d_dw_tiled.wgsl's VEC_A) aligned.
  while ((rowsPer * g.OW) % 4 !== 0 && rowsPer < rows) rowsPer++;
  chunks = Math.max(1, Math.ceil(rows / rowsPer));
  return { kernel: 'tiled', block: { rows: 1, cols4: 1 }, tile, chunks, rowsPer, partialSize: chunks > 1 ? chunks * numel : 0 };
}

/**
 * The weight-gradient plan of one call (weightGradPlan's kernels by default). The taps kernel's few channels
 * are not worth a tile (cost model).
 */
export function conv2dWeightGradPlan(d: Dispatcher, g: ConvGeometry): WeightGradPlan {
  const def = () => weightGradPlan(g, undefined, undefined, d.maxOutputsPerThread);
  const dims = gemmDims('conv2d_dw', g);
  const c = resolveChoice(d, 'conv2d_dw', convClass('conv2d_dw', g), g,
    () => (def().kernel === 'taps' ? DEFAULT_CHOICE : tiledCostModel(d, dims.M, dims.N, dims.K, g.groups * Math.max(1, Math.floor(dims.K / TILED_MIN_CHUNK_PIXELS)))),
    (c) => (c.variant === 'tiled' ? tiledUnfit(d, 'conv2d_dw', g, c.tile) : null));
  return c.variant === 'tiled' ? tiledWeightGradPlan(g, c.tile) : def();
}

/**
 * dw = the gradient of sum(gy * conv2d(x, w)) with respect to w, following `plan` (conv2dWeightGradPlan,
 * weightGradPlan or tiledWeightGradPlan). `part` holds plan.partialSize floats (ignored when plan.chunks is 1).
 */
export function runConv2dWeightGrad(d: Dispatcher, x: GPUBufferBinding, gy: GPUBufferBinding, part: GPUBufferBinding | null,
  out: GPUBufferBinding, g: ConvGeometry, plan: WeightGradPlan): void {
  const p = shapeParams(g);
  const numel = g.O * p.Cg * g.KH * g.KW;
  if (numel === 0) return;
  if (plan.chunks > 1 && !part) throw new Error('conv2d weight gradient: a partial-sum buffer is needed for split-K');
  const target = plan.chunks > 1 ? part! : out;
  const b = plan.block;
  if (plan.kernel === 'tiled') {
    if (!plan.tile) throw new Error("conv2d weight gradient: a 'tiled' plan needs its tile");
    const t = checkTile(d, 'conv2d_dw', g, plan.tile, plan.chunks);
    const OP = g.OH * g.OW;
    d.run(kernelsOf(g).dwTiled, {
      buffers: { x, gy, part: target, gy4: vec4View(gy) },
      params: { ...p, chunks: plan.chunks, rows_per: plan.rowsPer },
      overrides: { VEC_A: OP % 4 === 0 && (plan.chunks === 1 || (plan.rowsPer * g.OW) % 4 === 0) && vec4Aligned(gy), TM: t.tm, TN4: t.tn4, BK: t.bk },
      workgroups: tiledGrid('conv2d_dw', g, t, plan.chunks),
    });
  } else if (plan.kernel === 'taps') {
    const threads = g.groups * plan.chunks * Math.ceil(p.Og / b.rows) * p.Cg;
    d.run(kernelsOf(g).dwTaps, {
      buffers: { x, gy, part: target },
      params: { ...p, groups: g.groups, chunks: plan.chunks, rows_per: plan.rowsPer },
      overrides: { ROWS: b.rows, KH: g.KH, KW: g.KW },
      workgroups: grid1d(threads, DW_WG),
    });
  } else {
    const tiles = Math.ceil(weightGradBlocks(g, b) / DW_WG);
    if (tiles > MAX_GROUPS) throw new RangeError(`conv2d weight gradient: the weight [${g.O}, ${p.Cg}, ${g.KH}, ${g.KW}] is too large to dispatch`);
    d.run(kernelsOf(g).dw, {
      buffers: { x, gy, part: target },
      params: { ...p, chunks: plan.chunks, rows_per: plan.rowsPer },
      overrides: { ROWS: b.rows, COLS4: b.cols4 },
      workgroups: [tiles, 1, g.groups * plan.chunks],
    });
  }
  if (plan.chunks > 1) d.run(dwReduce, { buffers: { part: target, dw: out }, params: { numel, chunks: plan.chunks }, workgroups: grid1d(numel, 256) });
}

// ---- the tiled variants: GEMM dimensions, grids, shape classes, tuning ----

type ConvOp = Extract<KernelOp, 'conv2d_fwd' | 'conv2d_dx' | 'conv2d_dw'>;

/** The implicit GEMM of a pass, per group (dx: per stride phase, the largest). */
function gemmDims(op: ConvOp, g: ConvGeometry): { M: number; N: number; K: number } {
  const Og = g.O / g.groups;
  const Cg = g.C / g.groups;
  const taps = g.KH * g.KW;
  if (op === 'conv2d_fwd') return { M: Og, N: g.N * g.OH * g.OW, K: Cg * taps };
  if (op === 'conv2d_dx') return { M: Cg, N: g.N * Math.ceil(g.H / g.sh) * Math.ceil(g.W / g.sw), K: Og * Math.ceil(g.KH / g.sh) * Math.ceil(g.KW / g.sw) };
  return { M: Og, N: Cg * taps, K: g.N * g.OH * g.OW };
}

/** The class the tuner keys a pass's choice by: kernel size, stride, dilation, grouping, and the GEMM's sizes to powers of two. */
export function convClass(op: ConvOp, g: ConvGeometry): string {
  const { M, N, K } = gemmDims(op, g);
  const grouped = g.groups === 1 ? '' : g.groups === g.C ? ' depthwise' : ' grouped';
  return `k${g.KH}x${g.KW} s${g.sh}x${g.sw} d${g.dh}x${g.dw}${grouped} M${bucket(M)} N${bucket(N)} K${bucket(K)}`;
}

function tiledGrid(op: ConvOp, g: ConvGeometry, t: Tile, chunks = 1): [number, number, number] {
  const { M, N } = gemmDims(op, g);
  const z = op === 'conv2d_fwd' ? g.groups : op === 'conv2d_dx' ? g.groups * g.sh * g.sw : g.groups * chunks;
  return [Math.ceil(N / (64 * t.tn4)), Math.ceil(M / (16 * t.tm)), z];
}

/** Why the tiled kernel cannot run this pass with `t` on `d`, or null. */
function tiledUnfit(d: Dispatcher, op: ConvOp, g: ConvGeometry, t: Tile, chunks = 1): string | null {
  if (!tileFits(d, t)) return `its tile stages ${tileStorageBytes(t)} bytes of workgroup memory, more than the device's ${d.chooser?.maxWorkgroupStorage ?? 16384}`;
  const grid = tiledGrid(op, g, t, chunks);
  if (grid.some((n) => n > MAX_GROUPS)) return `its grid [${grid.join(', ')}] exceeds 65535 workgroups along an axis`;
  return null;
}

function checkTile(d: Dispatcher, op: ConvOp, g: ConvGeometry, t: Tile, chunks = 1): Tile {
  const why = tiledUnfit(d, op, g, t, chunks);
  if (why) throw new RangeError(`${op}: ${choiceLabel({ variant: 'tiled', tile: t })} cannot run [${g.N}, ${g.C}, ${g.H}, ${g.W}] * [${g.O}, ${g.C / g.groups}, ${g.KH}, ${g.KW}]: ${why}`);
  return t;
}

function bytesFrom(x: GPUBufferBinding): number {
  return x.size ?? x.buffer.size - (x.offset ?? 0);
}

function vec4Aligned(x: GPUBufferBinding): boolean {
  return bytesFrom(x) % 16 === 0 && (x.offset ?? 0) % 16 === 0;
}

/** `x` for a vec4 view that is bound even when unused: WebGPU refuses a vec4 binding of under 16 bytes. */
function vec4View(x: GPUBufferBinding): GPUBufferBinding {
  if (bytesFrom(x) >= 16) return x;
  const left = x.buffer.size - (x.offset ?? 0);
  if (left < 16) throw new RangeError(`conv2d: a buffer has ${left} bytes past its offset; the tiled kernels bind at least 16`);
  return { buffer: x.buffer, offset: x.offset ?? 0, size: 16 };
}

const describeGeometry = (g: ConvGeometry): string =>
  `[${g.N}, ${g.C}, ${g.H}, ${g.W}] * [${g.O}, ${g.C / g.groups}, ${g.KH}, ${g.KW}] s${g.sh}x${g.sw} p${g.ph}x${g.pw} d${g.dh}x${g.dw}${g.groups > 1 ? ` g${g.groups}` : ''}`;

const tiledCandidates = (op: ConvOp) => (d: Dispatcher, g: ConvGeometry, quick: boolean): KernelChoice[] =>
  [DEFAULT_CHOICE, ...tileCandidates(d, quick).filter((t) => !tiledUnfit(d, op, g, t)).map((tile): KernelChoice => ({ variant: 'tiled', tile }))];

const xFloats = (g: ConvGeometry) => g.N * g.C * g.H * g.W;
const wFloats = (g: ConvGeometry) => g.O * (g.C / g.groups) * g.KH * g.KW;
const yFloats = (g: ConvGeometry) => g.N * g.O * g.OH * g.OW;

registerTunable<ConvGeometry>({
  op: 'conv2d_fwd',
  shapeClass: (g) => convClass('conv2d_fwd', g),
  candidates: tiledCandidates('conv2d_fwd'),
  buffers: (_d, g) => ({ x: xFloats(g), w: wFloats(g), y: yFloats(g) }),
  run: (d, b, g, c) => runConv2dForward(d, b.x!, b.w!, null, b.y!, g, 'none', c.variant === 'tiled' ? { kernel: 'tiled', tile: c.tile } : defaultForwardPlan(d, g, false)),
  describe: describeGeometry,
});

registerTunable<ConvGeometry>({
  op: 'conv2d_dx',
  shapeClass: (g) => convClass('conv2d_dx', g),
  candidates: tiledCandidates('conv2d_dx'),
  buffers: (_d, g) => ({ gy: yFloats(g), w: wFloats(g), dx: xFloats(g) }),
  run: (d, b, g, c) => runConv2dInputGrad(d, b.gy!, b.w!, b.dx!, g, c.variant === 'tiled' ? { kernel: 'tiled', tile: c.tile } : defaultInputGradPlan(d, g)),
  describe: describeGeometry,
});

const tunedWeightGradPlan = (d: Dispatcher, g: ConvGeometry, c: KernelChoice): WeightGradPlan =>
  c.variant === 'tiled' ? tiledWeightGradPlan(g, c.tile) : weightGradPlan(g, undefined, undefined, d.maxOutputsPerThread);

registerTunable<ConvGeometry>({
  op: 'conv2d_dw',
  shapeClass: (g) => convClass('conv2d_dw', g),
  candidates: tiledCandidates('conv2d_dw'),
  buffers: (d, g, c) => ({ x: xFloats(g), gy: yFloats(g), dw: wFloats(g), part: Math.max(1, tunedWeightGradPlan(d, g, c).partialSize) }),
  run: (d, b, g, c) => runConv2dWeightGrad(d, b.x!, b.gy!, b.part!, b.dw!, g, tunedWeightGradPlan(d, g, c)),
  describe: describeGeometry,
});
