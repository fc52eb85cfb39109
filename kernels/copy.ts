/** Wrappers of copy.wgsl (strided word copy) and fill.wgsl. */
import { Kernel, dims8, grid1d, type Dispatcher } from './kernel.js';

const copy = Kernel.fromFile('copy', 'copy.wgsl');
const fill = Kernel.fromFile('fill', 'fill.wgsl');

export interface StridedView { offset: number; strides: readonly number[] }

/** The same copy with fewer dims: size-1 dims dropped, and neighbours merged where both views are contiguous. */
export interface CopyPlan { shape: number[]; src: number[]; dst: number[] }

/**
 * Coalesces the dims of a strided copy without changing the element order: a dim of size 1 moves nothing,
 * and dims a, a+1 with stride[a] == stride[a+1] * shape[a+1] in both views walk memory as one dim (this
 * also merges broadcast dims, stride 0 on both). Rank 0 (one element) becomes rank 1.
 */
export function coalesceCopy(shape: readonly number[], src: readonly number[], dst: readonly number[]): CopyPlan {
  const out: CopyPlan = { shape: [], src: [], dst: [] };
  for (let i = 0; i < shape.length; i++) {
    const n = shape[i]!;
    if (n === 1) continue;
    const k = out.shape.length - 1;
    if (k >= 0 && out.src[k] === src[i]! * n && out.dst[k] === dst[i]! * n) {
      out.shape[k]! *= n;
      out.src[k] = src[i]!;
      out.dst[k] = dst[i]!;
    } else {
      out.shape.push(n);
      out.src.push(src[i]!);
      out.dst.push(dst[i]!);
    }
  }
  if (out.shape.length === 0) return { shape: [1], src: [1], dst: [1] };
  return out;
}

/**
 * Whether the copy moves words [0, n) of src to words [0, n) of dst in order, so that a plain buffer-to-buffer
 * copy (no shader, far faster on lavapipe) can replace the kernel.
 */
export function isPlainCopy(srcView: StridedView, dstView: StridedView, shape: readonly number[]): boolean {
  if (srcView.offset !== 0 || dstView.offset !== 0) return false;
  const plan = coalesceCopy(shape, srcView.strides, dstView.strides);
  return plan.shape.length === 1 && plan.src[0] === 1 && plan.dst[0] === 1;
}

/** Consecutive innermost elements per thread: enough to spread a thread's fixed cost, few enough to keep rows short of idle lanes. */
const VEC = 8;

/** For every coordinate c of `shape`: dst[dstView.offset + c.dstView.strides] = src[srcView.offset + c.srcView.strides]. */
export function runCopy(d: Dispatcher, src: GPUBufferBinding, srcView: StridedView, dst: GPUBufferBinding, dstView: StridedView, shape: readonly number[]): void {
  const n = shape.reduce((p, q) => p * q, 1);
  if (n === 0) return;
  const plan = coalesceCopy(shape, srcView.strides, dstView.strides);
  const rank = plan.shape.length;
  const inner = plan.shape[rank - 1]!;
  const vec = Math.min(VEC, inner);
  const chunks = Math.ceil(inner / vec);
  const threads = (n / inner) * chunks;
  d.run(copy, {
    buffers: { src, dst },
    params: { threads, chunks, src_offset: srcView.offset, dst_offset: dstView.offset, shape: dims8(plan.shape), src_strides: dims8(plan.src), dst_strides: dims8(plan.dst) },
    overrides: { RANK: rank, VEC: vec },
    workgroups: grid1d(threads, 256),
  });
}

/** dst[0..n) = word (a raw 32-bit pattern). */
export function runFill(d: Dispatcher, dst: GPUBufferBinding, n: number, word: number): void {
  if (n === 0) return;
  d.run(fill, { buffers: { dst }, params: { n, value: word >>> 0 }, workgroups: grid1d(n, 256) });
}
