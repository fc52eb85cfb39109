/**
 * Wrappers of matmul.wgsl (register-blocked batched GEMM, 8x8 threads, ROWS x 4*COLS4 outputs per thread; the
 * block chosen per call from M and N, see chooseBlock) and matmul_tiled.wgsl (workgroup-tiled, for GPUs).
 * matmulPlan picks one for each call (kernels/choice.ts: forced, tuned, default on a software adapter, cost
 * model on a GPU).
 */
import { Kernel, type Dispatcher } from './kernel.js';
import {
  DEFAULT_CHOICE, bucket, choiceLabel, registerTunable, resolveChoice, tileCandidates, tileFits, tileStorageBytes, tiledCostModel,
  type KernelChoice, type Tile,
} from './choice.js';

const KERNELS = {
  f32: { blocked: Kernel.fromFile('matmul', 'matmul.wgsl'), tiled: Kernel.fromFile('matmul_tiled', 'matmul_tiled.wgsl') },
  // float16 a and b (mixed precision), f32 accumulation and output
  f16: {
    blocked: Kernel.fromFile('matmul_f16', 'matmul.wgsl', { halfInputs: ['a', 'b', 'b4'] }),
    tiled: Kernel.fromFile('matmul_tiled_f16', 'matmul_tiled.wgsl', { halfInputs: ['a', 'b', 'a4', 'b4'] }),
  },
};
const THREADS = 8;
/** Largest ROWS the wrapper uses; the kernel's MAX_ROWS is higher on purpose (see matmul.wgsl). */
const MAX_ROWS = 12;
const MAX_COLS4 = 4;
const MAX_GROUPS = 65535;

export interface GemmShape {
  M: number; N: number; K: number; batch: number; aStride: number; bStride: number; transA: boolean; transB: boolean;
  /** Forces the register-blocked kernel with this per-thread block (rows x 4*cols4 outputs); for tests and benchmarks. */
  block?: { rows: number; cols4: number };
  /** Forces the workgroup-tiled kernel with this tile; for tests and benchmarks. */
  tile?: Tile;
  /** false keeps b on scalar reads even where the vec4 read applies (register-blocked kernel); for tests and benchmarks. */
  vecB?: boolean;
  /** a and b are float16 storage (mixed precision); y stays f32. */
  half?: boolean;
}

export type GemmPlan = { variant: 'blocked'; block: { rows: number; cols4: number } } | { variant: 'tiled'; tile: Tile };

/**
 * 12 x 16 outputs per thread (measured best on lavapipe) unless M or N is small, where fewer rows or columns
 * per thread keep lanes off rows and columns past the edge. Threads wholly past the edge return at once, so
 * only tiny M / N need this; few choices keep the variants few (each compiles for 0.3-1.5 s on lavapipe).
 */
export function chooseBlock(M: number, N: number, maxOutputs = Infinity): { rows: number; cols4: number } {
  const cols4 = N <= 16 ? 1 : N <= 64 ? 2 : MAX_COLS4;
  // Under a register budget (a GPU), the rows shrink to what it leaves: 8 x 16 for 128 outputs.
  const rows = M <= 16 ? 2 : Math.max(1, Math.min(MAX_ROWS, Math.floor(maxOutputs / (4 * cols4))));
  return { rows, cols4 };
}

/** The shape class the tuner keys matmul choices by: transposes, sizes to the nearest power of two, vec4 reads. */
export function gemmClass(s: GemmShape): string {
  const aligned = vecA(s) && (s.transB ? s.K % 4 === 0 : s.N % 4 === 0) && s.bStride % 4 === 0;
  return `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'} M${bucket(s.M)} N${bucket(s.N)} K${bucket(s.K)} b${bucket(s.batch)}${aligned ? ' vec4' : ''}`;
}

function vecA(s: GemmShape): boolean {
  return (s.transA ? s.M % 4 === 0 : s.K % 4 === 0) && s.aStride % 4 === 0;
}

/** Why the tiled kernel cannot run `s` with `t` on `d`, or null. */
function tiledUnfit(d: Dispatcher, s: GemmShape, t: Tile): string | null {
  if (!tileFits(d, t)) return `its tile stages ${tileStorageBytes(t)} bytes of workgroup memory, more than the device's ${d.chooser?.maxWorkgroupStorage ?? 16384}`;
  const x = Math.ceil(s.N / (64 * t.tn4));
  const y = Math.ceil(s.M / (16 * t.tm));
  if (x > MAX_GROUPS || y > MAX_GROUPS) return `${y} x ${x} tiles exceed 65535 workgroups along an axis`;
  return null;
}

/** The kernel and block or tile for one GEMM (forced by s.block / s.tile, else kernels/choice.ts's order). */
export function matmulPlan(d: Dispatcher, s: GemmShape): GemmPlan {
  if (s.block && s.tile) throw new RangeError('matmul: both a block (register-blocked kernel) and a tile (tiled kernel) are forced; give one');
  if (s.block) return { variant: 'blocked', block: s.block };
  if (s.tile) {
    const why = tiledUnfit(d, s, s.tile);
    if (why) throw new RangeError(`matmul: the forced ${choiceLabel({ variant: 'tiled', tile: s.tile })} cannot run ${s.M}x${s.K}x${s.N}: ${why}`);
    return { variant: 'tiled', tile: s.tile };
  }
  const c = resolveChoice(d, 'matmul', gemmClass(s), tunedShape(s), () => tiledCostModel(d, s.M, s.N, s.K, s.batch),
    (c) => (c.variant === 'tiled' ? tiledUnfit(d, s, c.tile) : null));
  return c.variant === 'tiled' ? { variant: 'tiled', tile: c.tile } : { variant: 'blocked', block: chooseBlock(s.M, s.N, d.maxOutputsPerThread) };
}

function tunedShape(s: GemmShape): GemmShape {
  return { M: s.M, N: s.N, K: s.K, batch: s.batch, aStride: s.aStride, bStride: s.bStride, transA: s.transA, transB: s.transB };
}

function bytesFrom(x: GPUBufferBinding): number {
  return x.size ?? x.buffer.size - (x.offset ?? 0);
}

/** Whether a binding can be read as whole vec4s (offset and size multiples of 16 bytes). */
function vec4Aligned(x: GPUBufferBinding): boolean {
  return bytesFrom(x) % 16 === 0 && (x.offset ?? 0) % 16 === 0;
}

/** `x` for a vec4 view that is bound even when unused: WebGPU refuses a vec4 binding of under 16 bytes. */
function vec4View(x: GPUBufferBinding, name: string): GPUBufferBinding {
  if (bytesFrom(x) >= 16) return x;
  const left = x.buffer.size - (x.offset ?? 0);
  if (left < 16) throw new RangeError(`matmul: the buffer of ${name} has ${left} bytes past its offset; the kernel binds at least 16`);
  return { buffer: x.buffer, offset: x.offset ?? 0, size: 16 };
}

export function runMatmul(d: Dispatcher, a: GPUBufferBinding, b: GPUBufferBinding, y: GPUBufferBinding, s: GemmShape): void {
  if (s.M === 0 || s.N === 0 || s.batch === 0) return;
  if (s.batch > MAX_GROUPS) throw new RangeError(`matmul: batch ${s.batch} exceeds 65535`);
  const plan = matmulPlan(d, s);
  if (plan.variant === 'tiled') {
    runTiled(d, a, b, y, s, plan.tile);
    return;
  }
  const { rows, cols4 } = plan.block;
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_ROWS || !Number.isInteger(cols4) || cols4 < 1 || cols4 > MAX_COLS4) {
    throw new RangeError(`matmul: block of ${rows} rows x ${cols4} vec4 columns is outside 1..${MAX_ROWS} x 1..${MAX_COLS4}`);
  }
  // Whole vec4s only: N and the batch stride in multiples of 4 keep each vec4 inside one row of b, and a
  // binding of a multiple of 16 bytes keeps the last one inside the binding.
  const vecB = s.vecB !== false && !s.transB && s.N % 4 === 0 && s.bStride % 4 === 0 && vec4Aligned(b);
  d.run(KERNELS[s.half ? 'f16' : 'f32'].blocked, {
    buffers: { a, b, y, b4: vec4View(b, 'b') },
    params: { M: s.M, N: s.N, K: s.K, a_stride: s.aStride, b_stride: s.bStride },
    overrides: { TRANS_A: s.transA, TRANS_B: s.transB, VEC_B: vecB, ROWS: rows, COLS4: cols4 },
    workgroups: [Math.ceil(s.N / (THREADS * 4 * cols4)), Math.ceil(s.M / (THREADS * rows)), s.batch],
  });
}

function runTiled(d: Dispatcher, a: GPUBufferBinding, b: GPUBufferBinding, y: GPUBufferBinding, s: GemmShape, t: Tile): void {
  // A group of four along the contiguous dimension stays inside one row, and inside the binding, when that
  // dimension, the batch stride and the binding are multiples of 4 floats.
  const va = vecA(s) && vec4Aligned(a);
  const vb = (s.transB ? s.K % 4 === 0 : s.N % 4 === 0) && s.bStride % 4 === 0 && vec4Aligned(b);
  d.run(KERNELS[s.half ? 'f16' : 'f32'].tiled, {
    buffers: { a, b, y, a4: vec4View(a, 'a'), b4: vec4View(b, 'b') },
    params: { M: s.M, N: s.N, K: s.K, a_stride: s.aStride, b_stride: s.bStride },
    overrides: { TRANS_A: s.transA, TRANS_B: s.transB, VEC_A: va, VEC_B: vb, TM: t.tm, TN4: t.tn4, BK: t.bk },
    workgroups: [Math.ceil(s.N / (64 * t.tn4)), Math.ceil(s.M / (16 * t.tm)), s.batch],
  });
}

registerTunable<GemmShape>({
  op: 'matmul',
  shapeClass: gemmClass,
  candidates: (d, s, quick) => [DEFAULT_CHOICE, ...tileCandidates(d, quick).filter((t) => !tiledUnfit(d, s, t)).map((tile): KernelChoice => ({ variant: 'tiled', tile }))],
  buffers: (_d, s) => ({
    a: (s.batch - 1) * s.aStride + s.M * s.K,
    b: (s.batch - 1) * s.bStride + s.K * s.N,
    y: s.batch * s.M * s.N,
  }),
  run: (d, bufs, s, c) => runMatmul(d, bufs.a!, bufs.b!, bufs.y!, c.variant === 'tiled' ? { ...s, tile: c.tile } : { ...s, block: chooseBlock(s.M, s.N, d.maxOutputsPerThread) }),
  describe: (s) => `${s.batch > 1 ? `${s.batch} x ` : ''}${s.M}x${s.K}x${s.N}${s.transA ? ' A^T' : ''}${s.transB ? ' B^T' : ''}`,
});
