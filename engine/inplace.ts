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

/** dst <- src (same shape and dtype), in place: dst keeps its identity (optimizers hold parameters by identity). */
export function copyInto(dst: Tensor, src: Tensor): void {
  dst.assertLive('copyInto (destination)');
  src.assertLive('copyInto (source)');
  if (dst.shape.join() !== src.shape.join() || dst.dtype !== src.dtype) {
    throw new RangeError(`copyInto: source ${src.dtype} [${src.shape}] does not match destination ${dst.dtype} [${dst.shape}]`);
  }
  dst.device.copyBuffer(src.storage.buffer, dst.storage.buffer, dst.size * 4);
  dst.storage.version++;
}
