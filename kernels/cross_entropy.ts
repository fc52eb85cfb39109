/** Wrapper of cross_entropy.wgsl: per-row losses, or the gradient rows scaled by the upstream gradient. */
import { Kernel, type Dispatcher } from './kernel.js';
import { rowGrid, rowTeam } from './softmax.js';

const ce = Kernel.fromFile('cross_entropy', 'cross_entropy.wgsl');

export interface CrossEntropyArgs { rows: number; len: number; smoothing: number }

/** y[r] = the loss of row r of z [rows, len] with int32 labels [rows]. */
export function runCrossEntropyLoss(d: Dispatcher, z: GPUBufferBinding, labels: GPUBufferBinding, y: GPUBufferBinding, a: CrossEntropyArgs): void {
  if (a.rows === 0) return;
  const team = rowTeam(a.len);
  d.run(ce, {
    buffers: { z, labels, g: z, y }, params: { ...a, gscale: 1, g_stride: 0 },
    overrides: { MODE: 0, TEAM: team }, workgroups: rowGrid(a.rows, team),
  });
}

/** y[r, :] = gscale * g[r or 0] * (softmax(z_r) - t_r); `perRow`: g has one value per row, else one in all. */
export function runCrossEntropyGrad(d: Dispatcher, z: GPUBufferBinding, labels: GPUBufferBinding, g: GPUBufferBinding, y: GPUBufferBinding,
  a: CrossEntropyArgs & { gscale: number; perRow: boolean }): void {
  if (a.rows === 0) return;
  const team = rowTeam(a.len);
  d.run(ce, {
    buffers: { z, labels, g, y },
    params: { rows: a.rows, len: a.len, smoothing: a.smoothing, gscale: a.gscale, g_stride: a.perRow ? 1 : 0 },
    overrides: { MODE: 1, TEAM: team }, workgroups: rowGrid(a.rows, team),
  });
}
