/** Wrappers of the pooling kernels (pool_max.wgsl, pool_max_backward[_tiled].wgsl, pool_avg.wgsl). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const maxFwd = Kernel.fromFile('pool_max', 'pool_max.wgsl');
const maxBwd = Kernel.fromFile('pool_max_backward', 'pool_max_backward.wgsl');
const maxBwdTiled = Kernel.fromFile('pool_max_backward_tiled', 'pool_max_backward_tiled.wgsl');
const avg = Kernel.fromFile('pool_avg', 'pool_avg.wgsl');

/** Planes P = N*C of [H, W] pooled to [OH, OW]; window k, stride s, padding p, dilation d per axis (h, w). */
export interface PoolGeometry {
  P: number; H: number; W: number; OH: number; OW: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

const geomParams = (g: PoolGeometry) => ({ H: g.H, W: g.W, OH: g.OH, OW: g.OW, kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw });

/** y = window max, idx = its flat position ih*W + iw in the plane (int32). */
export function runMaxPool(dev: Dispatcher, g: PoolGeometry, x: GPUBufferBinding, y: GPUBufferBinding, idx: GPUBufferBinding, relu = false): void {
  const n = g.P * g.OH * g.OW;
  if (n === 0) return;
  dev.run(maxFwd, { buffers: { x, y, idx }, params: { n, ...geomParams(g), dh: g.dh, dw: g.dw }, overrides: { KH: g.kh, KW: g.kw, RELU: relu }, workgroups: grid1d(n, 256) });
}

/** Windows that do not overlap and leave no gap (kernel == stride, no padding, no dilation): each input position is in at most one window. */
export const windowsTile = (g: PoolGeometry): boolean =>
  g.kh === g.sh && g.kw === g.sw && g.ph === 0 && g.pw === 0 && g.dh === 1 && g.dw === 1;

/** dx[p, ih, iw] = sum of gy over the windows whose argmax is (ih, iw). */
export function runMaxPoolBackward(dev: Dispatcher, g: PoolGeometry, gy: GPUBufferBinding, idx: GPUBufferBinding, dx: GPUBufferBinding): void {
  if (g.P * g.H * g.W === 0) return;
  if (windowsTile(g)) {
    // Scatter from the windows: one thread per window, no search for the windows covering an input.
    const n = g.P * g.OH * g.OW;
    dev.run(maxBwdTiled, { buffers: { g: gy, idx, dx }, params: { n, H: g.H, W: g.W, OH: g.OH, OW: g.OW }, overrides: { KH: g.kh, KW: g.kw }, workgroups: grid1d(n, 256) });
    return;
  }
  const n = g.P * g.H * g.W;
  dev.run(maxBwd, { buffers: { g: gy, idx, dx }, params: { n, ...geomParams(g), dh: g.dh, dw: g.dw }, workgroups: grid1d(n, 256) });
}

export interface AvgPoolVariant { adaptive: boolean; countIncludePad: boolean }

/** Average pooling forward (src = x, dst = y) or backward (src = g, dst = dx); see pool_avg.wgsl. */
export function runAvgPool(dev: Dispatcher, g: PoolGeometry, v: AvgPoolVariant, backward: boolean, src: GPUBufferBinding, dst: GPUBufferBinding): void {
  const n = backward ? g.P * g.H * g.W : g.P * g.OH * g.OW;
  if (n === 0) return;
  dev.run(avg, {
    buffers: { src, dst }, params: { n, ...geomParams(g) },
    overrides: { ADAPTIVE: v.adaptive, COUNT_INCLUDE_PAD: v.countIncludePad, BACKWARD: backward }, workgroups: grid1d(n, 256),
  });
}
