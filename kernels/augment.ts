/** Wrapper of augment.wgsl: per-example random crop with zero padding and horizontal flip. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const augment = Kernel.fromFile('augment', 'augment.wgsl');

export interface AugmentBuffers { x: GPUBufferBinding; code: GPUBufferBinding; y: GPUBufferBinding }

/** y = crop-and-flip of x [batch, c, h, w], example b by code[b] (see augment.wgsl). */
export function runAugment(d: Dispatcher, b: AugmentBuffers, shape: readonly [number, number, number, number], pad: number): void {
  const [batch, c, h, w] = shape;
  const rows = batch * c * h;
  if (rows * w === 0) return;
  d.run(augment, { buffers: { x: b.x, code: b.code, y: b.y }, params: { rows, c, h, w, pad, span: 2 * pad + 1 }, workgroups: grid1d(rows, 64) });
}
