/** Wrappers of unary.wgsl, binary.wgsl and where.wgsl: op numbering and broadcast parameters. */
import { Kernel, dims8, grid1d, type Dispatcher } from './kernel.js';

export const UNARY_OPS = {
  copy: 0, neg: 1, exp: 2, log: 3, sqrt: 4, abs: 5, sign: 6, square: 7, reciprocal: 8,
  scale_shift: 9, pow_scalar: 10, clamp: 11, in_range: 12,
} as const;
export type UnaryKernelOp = keyof typeof UNARY_OPS;

export const BINARY_OPS = {
  add: 0, sub: 1, mul: 2, div: 3, pow: 4, minimum: 5, maximum: 6, eq: 7, ne: 8, lt: 9, le: 10, gt: 11, ge: 12,
} as const;
export type BinaryKernelOp = keyof typeof BINARY_OPS;

const unary = Kernel.fromFile('unary', 'unary.wgsl');
const binary = Kernel.fromFile('binary', 'binary.wgsl');
const where = Kernel.fromFile('where', 'where.wgsl');

export function runUnary(d: Dispatcher, op: UnaryKernelOp, x: GPUBufferBinding, y: GPUBufferBinding, n: number, a = 0, b = 0): void {
  d.run(unary, { buffers: { x, y }, params: { n, a, b }, overrides: { OP: UNARY_OPS[op] }, workgroups: grid1d(n, 256) });
}

/** `strides` are each operand's strides broadcast to `shape` (engine/shape.ts broadcastStrides). */
function broadcastParams(shape: readonly number[], strides: (readonly number[])[], contiguous: boolean) {
  const n = shape.reduce((p, q) => p * q, 1);
  const pad = (i: number) => dims8(strides[i] ?? []);
  return { n, rank: shape.length, contiguous: contiguous ? 1 : 0, shape: dims8(shape), sa: pad(0), sb: pad(1), sc: pad(2) };
}

export function runBinary(d: Dispatcher, op: BinaryKernelOp, a: GPUBufferBinding, b: GPUBufferBinding, y: GPUBufferBinding,
  shape: readonly number[], strides: [readonly number[], readonly number[]], contiguous: boolean): void {
  const params = broadcastParams(shape, strides, contiguous);
  d.run(binary, { buffers: { a, b, y }, params, overrides: { OP: BINARY_OPS[op] }, workgroups: grid1d(params.n, 256) });
}

export function runWhere(d: Dispatcher, cond: GPUBufferBinding, a: GPUBufferBinding, b: GPUBufferBinding, y: GPUBufferBinding,
  shape: readonly number[], strides: [readonly number[], readonly number[], readonly number[]], contiguous: boolean): void {
  const params = broadcastParams(shape, strides, contiguous);
  d.run(where, { buffers: { cond, a, b, y }, params, workgroups: grid1d(params.n, 256) });
}
