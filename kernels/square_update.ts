/** Wrappers of square_linf_update.wgsl (elementwise) and square_l2_update.wgsl (one workgroup per example). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const linf = Kernel.fromFile('square_linf_update', 'square_linf_update.wgsl');
const l2 = Kernel.fromFile('square_l2_update', 'square_l2_update.wgsl');

/** A batch of images [N, C, H, W] and the side s of the square windows (1 <= s <= min(H, W)). */
export interface SquareGeometry { batch: number; channels: number; height: number; width: number; size: number }

export interface SquareBuffers { x: GPUBufferBinding; xBest: GPUBufferBinding; draws: GPUBufferBinding; y: GPUBufferBinding }

export function runSquareLinfUpdate(d: Dispatcher, b: SquareBuffers, g: SquareGeometry, eps: number): void {
  const n = g.batch * g.channels * g.height * g.width;
  if (n === 0) return;
  d.run(linf, {
    buffers: { x: b.x, x_best: b.xBest, draws: b.draws, y: b.y },
    params: { n, channels: g.channels, height: g.height, width: g.width, size: g.size, eps },
    workgroups: grid1d(n, 256),
  });
}

export function runSquareL2Update(d: Dispatcher, b: SquareBuffers & { eta: GPUBufferBinding }, g: SquareGeometry, eps: number): void {
  if (g.batch * g.channels * g.height * g.width === 0) return;
  d.run(l2, {
    buffers: { x: b.x, x_best: b.xBest, draws: b.draws, eta: b.eta, y: b.y },
    params: { batch: g.batch, channels: g.channels, height: g.height, width: g.width, size: g.size, eps },
    workgroups: grid1d(g.batch, 1),
  });
}
