/** Wrapper of margin.wgsl: DLR and ReDLR per-row losses and their gradient rows. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const margin = Kernel.fromFile('margin', 'margin.wgsl');

/**
 * MODE loss: y[r] = (Re)DLR of row r of z [rows, len]; MODE grad: y[r, :] = g[r] d loss / d z_r. `g` is
 * ignored for the loss (pass z).
 */
export function runMargin(d: Dispatcher, what: 'loss' | 'grad', re: boolean, z: GPUBufferBinding, labels: GPUBufferBinding, g: GPUBufferBinding, y: GPUBufferBinding, rows: number, len: number): void {
  if (rows === 0) return;
  d.run(margin, { buffers: { z, labels, g, y_out: y }, params: { rows, len }, overrides: { MODE: what === 'loss' ? 0 : 1, RE: re }, workgroups: grid1d(rows, 64) });
}
