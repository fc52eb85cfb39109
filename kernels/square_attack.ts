/** Wrappers of the Square attack kernels: square_linf_update.wgsl (elementwise), square_l2_update.wgsl and square_accept.wgsl (one workgroup per example). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const linf = Kernel.fromFile('square_linf_update', 'square_linf_update.wgsl');
const l2 = Kernel.fromFile('square_l2_update', 'square_l2_update.wgsl');

/** A batch of images [N, C, H, W] and the side s of the square windows (1 <= s <= min(H, W)). */
export interface SquareGeometry { batch: number; channels: number; height: number; width: number; size: number }

export interface SquareBuffers { x: GPUBufferBinding; xBest: GPUBufferBinding; draws: GPUBufferBinding; y: GPUBufferBinding }

/** A grid dimension's limit (WebGPU's default maxComputeWorkgroupsPerDimension). */
const MAX_GROUPS = 65535;

export function runSquareLinfUpdate(d: Dispatcher, b: SquareBuffers, g: SquareGeometry, eps: number): void {
  const plane = g.height * g.width;
  if (g.batch * g.channels * plane === 0) return;
  if (g.channels > MAX_GROUPS) throw new RangeError(`square_linf_update: at most ${MAX_GROUPS} channels, got ${g.channels}`);
  for (let first = 0; first < g.batch; first += MAX_GROUPS) {
    d.run(linf, {
      buffers: { x: b.x, x_best: b.xBest, draws: b.draws, y: b.y },
      params: { first, channels: g.channels, height: g.height, width: g.width, size: g.size, eps },
      workgroups: [Math.ceil(plane / linf.workgroupSize[0]), g.channels, Math.min(MAX_GROUPS, g.batch - first)],
    });
  }
}

export function runSquareL2Update(d: Dispatcher, b: SquareBuffers & { eta: GPUBufferBinding }, g: SquareGeometry, eps: number): void {
  if (g.batch * g.channels * g.height * g.width === 0) return;
  d.run(l2, {
    buffers: { x: b.x, x_best: b.xBest, draws: b.draws, eta: b.eta, y: b.y },
    params: { batch: g.batch, channels: g.channels, height: g.height, width: g.width, size: g.size, eps },
    workgroups: grid1d(g.batch, 1),
  });
}

const accept = Kernel.fromFile('square_accept', 'square_accept.wgsl');

export interface SquareAcceptBuffers {
  logits: GPUBufferBinding; labels: GPUBufferBinding; cand: GPUBufferBinding; best: GPUBufferBinding; loss: GPUBufferBinding; open: GPUBufferBinding;
  bestOut: GPUBufferBinding; lossOut: GPUBufferBinding; openOut: GPUBufferBinding;
}

export function runSquareAccept(d: Dispatcher, b: SquareAcceptBuffers, batch: number, classes: number, features: number): void {
  if (batch === 0) return;
  d.run(accept, {
    buffers: { logits: b.logits, labels: b.labels, cand: b.cand, best: b.best, loss: b.loss, open: b.open, best_out: b.bestOut, loss_out: b.lossOut, open_out: b.openOut },
    params: { batch, classes, features },
    workgroups: grid1d(batch, 1),
  });
}
