/** Wrapper of matmul.wgsl (register-blocked batched GEMM, 4x4 outputs per thread, 8x8 threads). */
import { Kernel, type Dispatcher } from './kernel.js';

const matmul = Kernel.fromFile('matmul', 'matmul.wgsl');
const TILE = 32;

export interface GemmShape { M: number; N: number; K: number; batch: number; aStride: number; bStride: number; transA: boolean; transB: boolean }

export function runMatmul(d: Dispatcher, a: GPUBufferBinding, b: GPUBufferBinding, y: GPUBufferBinding, s: GemmShape): void {
  if (s.M === 0 || s.N === 0 || s.batch === 0) return;
  if (s.batch > 65535) throw new RangeError(`matmul: batch ${s.batch} exceeds 65535`);
  d.run(matmul, {
    buffers: { a, b, y },
    params: { M: s.M, N: s.N, K: s.K, a_stride: s.aStride, b_stride: s.bStride },
    overrides: { TRANS_A: s.transA, TRANS_B: s.transB },
    workgroups: [Math.ceil(s.N / TILE), Math.ceil(s.M / TILE), s.batch],
  });
}
