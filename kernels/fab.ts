/** Wrappers of FAB's kernels: fab_projection.wgsl (the projection onto a hyperplane inside [0, 1]^D), fab_step.wgsl (the biased step) and fab_update.wgsl (the bookkeeping after it). */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';
import { rowGrid } from './softmax.js';

const projection = Kernel.fromFile('fab_projection', 'fab_projection.wgsl');

export interface FabProjectionBuffers { points: GPUBufferBinding; w: GPUBufferBinding; b: GPUBufferBinding; d: GPUBufferBinding }

/**
 * d [rows, features]: the step of each row of points onto hyperplane (w, b)[row % planes] within the box.
 * `cpu` (a software adapter): one thread per row, since there a barrier costs more than a longer sweep.
 */
export function runFabProjection(dev: Dispatcher, buf: FabProjectionBuffers, rows: number, features: number, planes: number, norm: 'linf' | 'l2', cpu: boolean): void {
  if (rows === 0 || features === 0) return;
  const team = cpu ? 1 : 64;
  dev.run(projection, { buffers: { ...buf }, params: { rows, features, planes }, overrides: { L2: norm === 'l2', TEAM: team }, workgroups: rowGrid(rows, team) });
}

const step = Kernel.fromFile('fab_step', 'fab_step.wgsl');

export interface FabStepBuffers { x1: GPUBufferBinding; x0: GPUBufferBinding; d: GPUBufferBinding; moved: GPUBufferBinding; dist: GPUBufferBinding }

/** FAB's biased step of `rows` examples of `features` values from their two projections (fab_step.wgsl). */
export function runFabStep(dev: Dispatcher, buf: FabStepBuffers, rows: number, features: number, eta: number, alphaMax: number, norm: 'linf' | 'l2', cpu: boolean): void {
  if (rows === 0) return;
  const team = cpu ? 1 : 64;
  dev.run(step, { buffers: { ...buf }, params: { rows, features, eta, alpha_max: alphaMax }, overrides: { L2: norm === 'l2', TEAM: team }, workgroups: rowGrid(rows, team) });
}

const update = Kernel.fromFile('fab_update', 'fab_update.wgsl');

export interface FabUpdateBuffers { moved: GPUBufferBinding; x0: GPUBufferBinding; adv: GPUBufferBinding; wrong: GPUBufferBinding; closer: GPUBufferBinding; x1Next: GPUBufferBinding; advNext: GPUBufferBinding }

/** FAB's backward step and closest-point update over n elements, `features` per example (fab_update.wgsl). */
export function runFabUpdate(dev: Dispatcher, buf: FabUpdateBuffers, n: number, features: number, beta: number): void {
  if (n === 0) return;
  dev.run(update, {
    buffers: { moved: buf.moved, x0: buf.x0, adv: buf.adv, wrong: buf.wrong, closer: buf.closer, x1_next: buf.x1Next, adv_next: buf.advNext },
    params: { n, features, beta }, workgroups: grid1d(n, 256),
  });
}
