/** Wrapper of topk.wgsl: the k largest entries of each row with their positions, and the backward scatter. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const topk = Kernel.fromFile('topk', 'topk.wgsl');

/** values/indices [rows, k] of x [rows, len]. */
export function runTopk(d: Dispatcher, x: GPUBufferBinding, values: GPUBufferBinding, indices: GPUBufferBinding, rows: number, len: number, k: number): void {
  if (rows === 0 || k === 0) return;
  d.run(topk, { buffers: { x, idx: indices, out: values }, params: { rows, len, k }, overrides: { MODE: 0 }, workgroups: grid1d(rows * len, 256) });
}

/** gx [rows, len] = g [rows, k] put back at `indices`. */
export function runTopkBackward(d: Dispatcher, g: GPUBufferBinding, indices: GPUBufferBinding, gx: GPUBufferBinding, rows: number, len: number, k: number): void {
  if (rows === 0 || len === 0) return;
  d.run(topk, { buffers: { x: g, idx: indices, out: gx }, params: { rows, len, k }, overrides: { MODE: 1 }, workgroups: grid1d(rows * len, 256) });
}
