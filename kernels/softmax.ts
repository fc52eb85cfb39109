/** Wrapper of softmax.wgsl, and the row-team size shared by the row-wise loss kernels. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

export const SOFTMAX_OPS = { softmax: 0, log_softmax: 1, softmax_backward: 2, log_softmax_backward: 3 } as const;
export type SoftmaxKernelOp = keyof typeof SOFTMAX_OPS;

const softmax = Kernel.fromFile('softmax', 'softmax.wgsl');

/** Threads per row in the row kernels (64 per workgroup): short rows get one thread each, long rows a team. */
export function rowTeam(len: number): number {
  return len < 32 ? 1 : len < 256 ? 8 : 64;
}

/** Workgroups for `rows` rows handled by teams of `team` threads in workgroups of 64. */
export function rowGrid(rows: number, team: number): [number, number, number] {
  return grid1d(rows, 64 / team);
}

/**
 * One softmax-family pass over `rows` rows of `len` elements at stride `inner` (see softmax.wgsl). `g` is
 * the upstream gradient for the backward ops (pass x for the forward ones).
 */
export function runSoftmax(d: Dispatcher, op: SoftmaxKernelOp, x: GPUBufferBinding, g: GPUBufferBinding, y: GPUBufferBinding, rows: number, len: number, inner: number): void {
  if (rows === 0 || len === 0) return;
  const team = rowTeam(len);
  d.run(softmax, { buffers: { x, g, y }, params: { rows, len, inner }, overrides: { OP: SOFTMAX_OPS[op], TEAM: team }, workgroups: rowGrid(rows, team) });
}
