/** Wrappers of cast.wgsl (dtype conversions of 32-bit words) and cast_f16.wgsl (float32 <-> float16 storage). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const cast = Kernel.fromFile('cast', 'cast.wgsl');
const castHalf = Kernel.fromFile('cast_f16', 'cast_f16.wgsl');
const CODES = { float32: 0, int32: 1, uint32: 2 } as const;

export function runCast(d: Dispatcher, x: GPUBufferBinding, y: GPUBufferBinding, n: number, from: keyof typeof CODES, to: keyof typeof CODES): void {
  if (n === 0) return;
  d.run(cast, { buffers: { x, y }, params: { n }, overrides: { FROM: CODES[from], TO: CODES[to] }, workgroups: grid1d(n, 256) });
}

/** `n` elements from float32 to float16 storage (`toHalf`) or back. */
export function runCastHalf(d: Dispatcher, x: GPUBufferBinding, y: GPUBufferBinding, n: number, toHalf: boolean): void {
  if (n === 0) return;
  d.run(castHalf, { buffers: { x, y }, params: { n }, overrides: { TO_HALF: toHalf }, workgroups: grid1d(toHalf ? Math.ceil(n / 2) : n, 256) });
}
