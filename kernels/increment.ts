/** Wrapper of increment.wgsl. */
import { Kernel, type Dispatcher } from './kernel.js';

const increment = Kernel.fromFile('increment', 'increment.wgsl');

export function runIncrement(d: Dispatcher, counter: GPUBufferBinding): void {
  d.run(increment, { buffers: { counter }, workgroups: [1, 1, 1] });
}
