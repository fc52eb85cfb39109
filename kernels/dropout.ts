/** Wrapper of dropout.wgsl: y = x * (mask * scale). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const dropout = Kernel.fromFile('dropout', 'dropout.wgsl');

export function runDropout(d: Dispatcher, x: GPUBufferBinding, mask: GPUBufferBinding, y: GPUBufferBinding, n: number, scale: number): void {
  if (n === 0) return;
  d.run(dropout, { buffers: { x, mask, y }, params: { n, scale }, workgroups: grid1d(n, 256) });
}
