/**
 * Wrapper of matmul.wgsl (register-blocked batched GEMM, 8x8 threads, ROWS x 4*COLS4 outputs per thread).
 * The block is chosen per call from M and N among a few sizes (see chooseBlock).
 */
import { Kernel, type Dispatcher } from './kernel.js';

const matmul = Kernel.fromFile('matmul', 'matmul.wgsl');
const THREADS = 8;
/** Largest ROWS the wrapper uses; the kernel's MAX_ROWS is higher on purpose (see matmul.wgsl). */
const MAX_ROWS = 12;
const MAX_COLS4 = 4;

export interface GemmShape {
  M: number; N: number; K: number; batch: number; aStride: number; bStride: number; transA: boolean; transB: boolean;
  /** Forces the per-thread block (rows x 4*cols4 outputs) instead of chooseBlock's; for tests and benchmarks. */
  block?: { rows: number; cols4: number };
  /** false keeps b on scalar reads even where the vec4 read applies; for tests and benchmarks. */
  vecB?: boolean;
}

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

function bytesFrom(x: GPUBufferBinding): number {
  return x.size ?? x.buffer.size - (x.offset ?? 0);
}

export function runMatmul(d: Dispatcher, a: GPUBufferBinding, b: GPUBufferBinding, y: GPUBufferBinding, s: GemmShape): void {
  if (s.M === 0 || s.N === 0 || s.batch === 0) return;
  if (s.batch > 65535) throw new RangeError(`matmul: batch ${s.batch} exceeds 65535`);
  const { rows, cols4 } = s.block ?? chooseBlock(s.M, s.N, d.maxOutputsPerThread);
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_ROWS || !Number.isInteger(cols4) || cols4 < 1 || cols4 > MAX_COLS4) {
    throw new RangeError(`matmul: block of ${rows} rows x ${cols4} vec4 columns is outside 1..${MAX_ROWS} x 1..${MAX_COLS4}`);
  }
  const bBytes = bytesFrom(b);
  // Whole vec4s only: N and the batch stride in multiples of 4 keep each vec4 inside one row of b, and a
  // binding of a multiple of 16 bytes keeps the last one inside the binding.
  const vecB = s.vecB !== false && !s.transB && s.N % 4 === 0 && s.bStride % 4 === 0 && bBytes % 16 === 0 && (b.offset ?? 0) % 16 === 0;
  // The vec4 view is bound even when unused, and WebGPU refuses a vec4 binding of under 16 bytes.
  let b4 = b;
  if (bBytes < 16) {
    const left = b.buffer.size - (b.offset ?? 0);
    if (left < 16) throw new RangeError(`matmul: the buffer of b has ${left} bytes past its offset; the kernel binds at least 16`);
    b4 = { buffer: b.buffer, offset: b.offset ?? 0, size: 16 };
  }
  d.run(matmul, {
    buffers: { a, b, y, b4 },
    params: { M: s.M, N: s.N, K: s.K, a_stride: s.aStride, b_stride: s.bStride },
    overrides: { TRANS_A: s.transA, TRANS_B: s.transB, VEC_B: vecB, ROWS: rows, COLS4: cols4 },
    workgroups: [Math.ceil(s.N / (THREADS * 4 * cols4)), Math.ceil(s.M / (THREADS * rows)), s.batch],
  });
}
