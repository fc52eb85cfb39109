/** In-place updates outside autodiff (counters, running statistics): they bump the storage version. */
import { runIncrement } from '../kernels/increment.js';
import type { Tensor } from './tensor.js';

/** t += 1 for a one-element int32 tensor. */
export function incrementInPlace(t: Tensor): void {
  t.assertLive('incrementInPlace');
  if (t.dtype !== 'int32' || t.size !== 1) throw new TypeError(`incrementInPlace: expected a one-element int32 tensor, got ${t.dtype} [${t.shape}]`);
  runIncrement(t.device, t.storage.binding());
  t.storage.version++;
}
