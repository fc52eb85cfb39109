/** Wrapper of cast.wgsl: dtype conversions of 32-bit words. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const cast = Kernel.fromFile('cast', 'cast.wgsl');
const CODES = { float32: 0, int32: 1, uint32: 2 } as const;

export function runCast(d: Dispatcher, x: GPUBufferBinding, y: GPUBufferBinding, n: number, from: keyof typeof CODES, to: keyof typeof CODES): void {
  if (n === 0) return;
  d.run(cast, { buffers: { x, y }, params: { n }, overrides: { FROM: CODES[from], TO: CODES[to] }, workgroups: grid1d(n, 256) });
}
