/** Wrappers of copy.wgsl (strided word copy) and fill.wgsl. */
import { Kernel, dims8, grid1d, type Dispatcher } from './kernel.js';

const copy = Kernel.fromFile('copy', 'copy.wgsl');
const fill = Kernel.fromFile('fill', 'fill.wgsl');

export interface StridedView { offset: number; strides: readonly number[] }

/** For every coordinate c of `shape`: dst[dstView.offset + c.dstView.strides] = src[srcView.offset + c.srcView.strides]. */
export function runCopy(d: Dispatcher, src: GPUBufferBinding, srcView: StridedView, dst: GPUBufferBinding, dstView: StridedView, shape: readonly number[]): void {
  const n = shape.reduce((p, q) => p * q, 1);
  if (n === 0) return;
  d.run(copy, {
    buffers: { src, dst },
    params: { n, rank: shape.length, src_offset: srcView.offset, dst_offset: dstView.offset, shape: dims8(shape), src_strides: dims8(srcView.strides), dst_strides: dims8(dstView.strides) },
    workgroups: grid1d(n, 256),
  });
}

/** dst[0..n) = word (a raw 32-bit pattern). */
export function runFill(d: Dispatcher, dst: GPUBufferBinding, n: number, word: number): void {
  if (n === 0) return;
  d.run(fill, { buffers: { dst }, params: { n, value: word >>> 0 }, workgroups: grid1d(n, 256) });
}
