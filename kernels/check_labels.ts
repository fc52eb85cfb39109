/** Wrapper of check_labels.wgsl: labels [n] outside [0, classes) are reported at the next read. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const checkLabels = Kernel.fromFile('check_labels', 'check_labels.wgsl');

export function runCheckLabels(d: Dispatcher, labels: GPUBufferBinding, n: number, classes: number): void {
  if (n === 0) return;
  d.run(checkLabels, { buffers: { labels }, params: { n, classes }, workgroups: grid1d(n, 64) });
}
