/** Wrapper of reduce.wgsl: one reduction per contiguous row. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

export const REDUCE_OPS = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4 } as const;
export type ReduceKernelOp = keyof typeof REDUCE_OPS;

const reduce = Kernel.fromFile('reduce', 'reduce.wgsl');

/** y[r] = op(x[r*len .. (r+1)*len]) (times `scale` for sum), for r < rows. */
export function runReduce(d: Dispatcher, op: ReduceKernelOp, x: GPUBufferBinding, y: GPUBufferBinding, rows: number, len: number, scale = 1): void {
  if (rows === 0) return;
  d.run(reduce, { buffers: { x, y }, params: { rows, len, scale }, overrides: { OP: REDUCE_OPS[op] }, workgroups: grid1d(rows, 1) });
}
