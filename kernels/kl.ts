/** Wrapper of kl.wgsl: TRADES' per-row KL(softmax(nat) || softmax(adv)) and its gradients for both inputs. */
import { Kernel, type Dispatcher } from './kernel.js';
import { rowGrid, rowTeam } from './softmax.js';

const kl = Kernel.fromFile('trades_kl', 'kl.wgsl');

/** y[r] = KL of row r (za, zn: [rows, len]); `spare` is any other writable buffer (binding y1). */
export function runTradesKl(d: Dispatcher, za: GPUBufferBinding, zn: GPUBufferBinding, y: GPUBufferBinding, spare: GPUBufferBinding, rows: number, len: number): void {
  if (rows === 0) return;
  const team = rowTeam(len);
  d.run(kl, {
    buffers: { za, zn, g: za, y0: y, y1: spare }, params: { rows, len, gscale: 1, g_stride: 0 },
    overrides: { MODE: 0, TEAM: team }, workgroups: rowGrid(rows, team),
  });
}

/**
 * Gradient rows for adv (ga) and nat (gn), scaled by gscale * g[r or 0]; a null output is not computed
 * (`spare` is bound in its place).
 */
export function runTradesKlGrad(d: Dispatcher, za: GPUBufferBinding, zn: GPUBufferBinding, g: GPUBufferBinding,
  out: { ga: GPUBufferBinding | null; gn: GPUBufferBinding | null; spare: GPUBufferBinding },
  a: { rows: number; len: number; gscale: number; perRow: boolean }): void {
  if (a.rows === 0 || (!out.ga && !out.gn)) return;
  const team = rowTeam(a.len);
  d.run(kl, {
    buffers: { za, zn, g, y0: out.ga ?? out.spare, y1: out.gn ?? out.spare },
    params: { rows: a.rows, len: a.len, gscale: a.gscale, g_stride: a.perRow ? 1 : 0 },
    overrides: { MODE: 1, WANT_ADV: !!out.ga, WANT_NAT: !!out.gn, TEAM: team }, workgroups: rowGrid(a.rows, team),
  });
}
