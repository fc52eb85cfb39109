/**
 * Wrappers of reduce.wgsl (one workgroup per contiguous row; argmax/argmin) and reduce_axis[_vec4].wgsl (sum,
 * max, min over the middle axis of [A, R, B] in chunks, one thread per output), with the latter's pass plan.
 */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

export const REDUCE_OPS = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4 } as const;
export type ReduceKernelOp = keyof typeof REDUCE_OPS;
export type AxisReduceOp = 'sum' | 'max' | 'min';

const reduce = Kernel.fromFile('reduce', 'reduce.wgsl');
const reduceAxis = Kernel.fromFile('reduce_axis', 'reduce_axis.wgsl');
const reduceAxisVec4 = Kernel.fromFile('reduce_axis_vec4', 'reduce_axis_vec4.wgsl');

/** y[r] = op(x[r*len .. (r+1)*len]) (times `scale` for sum), for r < rows. */
export function runReduce(d: Dispatcher, op: ReduceKernelOp, x: GPUBufferBinding, y: GPUBufferBinding, rows: number, len: number, scale = 1): void {
  if (rows === 0) return;
  d.run(reduce, { buffers: { x, y }, params: { rows, len, scale }, overrides: { OP: REDUCE_OPS[op] }, workgroups: grid1d(rows, 1) });
}

/**
 * One pass over x viewed as [a, r, b] words, giving [a, c, b] words, chunk c covering [c*chunk, (c+1)*chunk)
 * of r. `lanes` says how reduce_axis_vec4.wgsl loads 4 words at once: 'b' (b % 4 == 0: four adjacent outputs),
 * 'r' (b == 1, r and chunk multiples of 4: four adjacent words of a row), null (reduce_axis.wgsl, one word).
 */
export interface AxisPass { a: number; r: number; b: number; c: number; chunk: number; lanes: 'b' | 'r' | null }

/**
 * Each pass is given about this many threads where the axis is long enough, splitting it into chunks that
 * further passes reduce: enough to fill a GPU's memory pipeline with vec4 loads. lavapipe, paying per
 * invocation and per pass, is 1.5-2x faster with a quarter as many (measured on [64, 32, 14, 14] and
 * [64, 16, 28, 28] over (0, 2, 3) and (2, 3)).
 */
const TARGET_THREADS = { gpu: 8192, cpu: 2048 };
/** Chunks are no shorter than this (a pass must shrink the data well to be worth its dispatch) ... */
const MIN_CHUNK = 32;
/** ... and no longer than this, which bounds a thread's serial sum (its rounding error and its latency). */
const MAX_CHUNK = 1024;
/** Below this many words a pass is cheaper than filling the device: one thread per output up to MAX_CHUNK. */
const SMALL = 65536;

/**
 * The passes that reduce the middle axis of [a, r, b] to [a, 1, b]: each one's c is the next one's r.
 * `cpu`: for a software adapter (Device.info.fallback).
 */
export function planAxisPasses(a: number, r: number, b: number, cpu = false): AxisPass[] {
  const target = TARGET_THREADS[cpu ? 'cpu' : 'gpu'];
  const passes: AxisPass[] = [];
  for (;;) {
    // vec4 bindings need a whole vec4, which an empty x lacks.
    const lanes = r === 0 ? null : b % 4 === 0 ? 'b' : b === 1 && r % 4 === 0 ? 'r' : null;
    const threadsPerChunk = Math.max(1, (a * b) / (lanes === 'b' ? 4 : 1));
    let c = Math.max(1, Math.ceil(r / MAX_CHUNK));
    if (r > MIN_CHUNK && a * r * b >= SMALL) c = Math.max(c, Math.min(Math.ceil(r / MIN_CHUNK), Math.ceil(target / threadsPerChunk)));
    let chunk = Math.max(1, Math.ceil(r / c));
    if (lanes === 'r') chunk = Math.ceil(chunk / 4) * 4;
    c = r === 0 ? 1 : Math.ceil(r / chunk);
    passes.push({ a, r, b, c, chunk, lanes });
    if (c === 1) return passes;
    r = c;
  }
}

/** Runs one pass (y has p.a * p.c * p.b words); `scale` multiplies sums. */
export function runReduceAxis(d: Dispatcher, op: AxisReduceOp, x: GPUBufferBinding, y: GPUBufferBinding, p: AxisPass, scale = 1): void {
  const words = p.a * p.c * p.b;
  if (words === 0) return;
  // In vec4 units where the kernel loads vec4s.
  const v = p.lanes === 'b' ? { b: p.b / 4, r: p.r, chunk: p.chunk } : p.lanes === 'r' ? { b: 1, r: p.r / 4, chunk: p.chunk / 4 } : { b: p.b, r: p.r, chunk: p.chunk };
  const n = p.lanes === 'b' ? words / 4 : words;
  const kernel = p.lanes ? reduceAxisVec4 : reduceAxis;
  d.run(kernel, {
    buffers: { x, y },
    params: { n, r: v.r, b: v.b, c: p.c, chunk: v.chunk, scale },
    overrides: p.lanes ? { OP: REDUCE_OPS[op], FOLD: p.lanes === 'r' } : { OP: REDUCE_OPS[op] },
    workgroups: grid1d(n, kernel.workgroupSize[0]),
  });
}
