/**
 * dtype conversions (torch's .float() / .int()): int32 to float32 (exact for |v| < 2^24: labels, indices,
 * counts), and float32 to int32 truncating toward zero (NaN gives 0, out-of-range values saturate at
 * -2^31 and 2^31 - 128, WGSL's conversion rule). No
 * gradient: a cast ends the differentiable path, as in PyTorch for integer results.
 */
import { defineOp } from '../op.js';
import { empty } from '../create.js';
import { refMap } from '../ref/tensor.js';
import type { Tensor } from '../tensor.js';
import { runCast, runCastHalf } from '../../kernels/cast.js';
import { halfRound } from '../half.js';
import { halfLeafCache } from '../precision.js';
import { keep } from '../scope.js';
import { sameShape } from '../shape.js';

export const toFloat32Op = defineOp<Record<string, never>>({
  name: 'to_float32',
  int32Inputs: [0],
  nondiff: [0],
  forward: ([x]) => {
    const y = empty(x!.device, x!.shape);
    runCast(x!.device, x!.storage.binding(), y.storage.binding(), y.size, 'int32', 'float32');
    return y;
  },
  reference: { forward: ([x]) => refMap(x!, (v) => v) },
  audit: [
    { name: 'to_float32 [7] labels', shapes: [[7]], attrs: {}, gen: ['labels:1000'] },
    // The audit's inputs are float32-exact, so the extremes are the int32 values a float32 holds.
    { name: 'to_float32 [3,4] negative and large', shapes: [[3, 4]], attrs: {}, values: [[0, -1, 5, -2147483648, 16777216, 2147483520, 1, 2, 3, -7, 9, 10]] },
  ],
  tolerance: { atol: 0, rtol: 0 },
});

/** WGSL clamps to the int32 range in float32 before truncating: the top is the largest float32 below 2^31. */
const I32_MAX_F32 = 2147483520;

export const toInt32Op = defineOp<Record<string, never>>({
  name: 'to_int32',
  nondiff: [0],
  forward: ([x]) => {
    const y = empty(x!.device, x!.shape, 'int32');
    runCast(x!.device, x!.storage.binding(), y.storage.binding(), y.size, 'float32', 'int32');
    return y;
  },
  reference: { forward: ([x]) => refMap(x!, (v) => (Number.isNaN(v) ? 0 : Math.max(-2147483648, Math.min(I32_MAX_F32, Math.trunc(v))))) },
  audit: [
    { name: 'to_int32 [5,6] x100 (truncation toward zero)', shapes: [[5, 6]], attrs: {}, scale: 100 },
    { name: 'to_int32 [4] edges', shapes: [[6]], attrs: {}, values: [[-0.5, 0.9999, -1.5, 3e9, -3e9, 2.5]] },
  ],
  tolerance: { atol: 0, rtol: 0 },
});

/**
 * float32 to float16 storage, rounded to nearest even (engine/half.ts); beyond +-65504 gives +-Infinity.
 * The f16 copies of mixed precision (engine/precision.ts) are made by it; no gradient.
 */
export const toFloat16Op = defineOp<Record<string, never>>({
  name: 'to_float16',
  nondiff: [0],
  forward: ([x]) => {
    const y = empty(x!.device, x!.shape, 'float16');
    runCastHalf(x!.device, x!.storage.binding(), y.storage.binding(), x!.size, true);
    return y;
  },
  reference: { forward: ([x]) => refMap(x!, halfRound) },
  audit: [
    { name: 'to_float16 [5,7] (odd count: a padding half)', shapes: [[5, 7]], attrs: {} },
    // ties to even at 1 + 2^-11 and 1 + 3 * 2^-11, the largest half, a subnormal and a tie between subnormals, zero and -0
    { name: 'to_float16 [8] rounding edges', shapes: [[8]], attrs: {}, values: [[1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, -65519, 3e-6, 1.5 * 2 ** -24, 0, -2.5e-8]] },
  ],
  tolerance: { atol: 0, rtol: 0 },
});

/** An int32 tensor as float32 (labels to count on the GPU, indices to compare); a float16 one exactly. */
export function toFloat32(x: Tensor): Tensor {
  if (x.dtype === 'float32') return x.clone();
  if (x.dtype !== 'float16') return toFloat32Op([x], {});
  x.assertLive('to_float32');
  const y = empty(x.device, x.shape, 'float32', 'to_float32');
  runCastHalf(x.device, x.storage.binding(), y.storage.binding(), x.size, false);
  return y;
}

/** A float32 tensor as float16 storage (mixed precision's operand copies). */
export function toFloat16(x: Tensor): Tensor {
  return x.dtype === 'float16' ? x.clone() : toFloat16Op([x], {});
}

/**
 * The f16 operand of a mixed-precision kernel: a leaf (a weight) is cast once per withPrecision call while
 * its storage is unchanged (engine/precision.ts), anything else each time. The caller owns the result.
 */
export function halfOperand(x: Tensor): Tensor {
  const cache = halfLeafCache();
  if (x.dtype === 'float16') return x.alias();
  // a trainable leaf: a weight (or an attack's input); activations, with or without a node, are cast each time
  if (!cache || x.node || !x.requiresGrad) return toFloat16(x);
  const hit = cache.get(x.storage);
  if (hit && hit.version === x.storage.version && sameShape(hit.copy.shape, x.shape)) return hit.copy.alias();
  hit?.copy.dispose();
  const copy = keep(toFloat16(x));
  cache.set(x.storage, { version: x.storage.version, copy });
  return copy.alias();
}

/** A float32 tensor truncated to int32. */
export function toInt32(x: Tensor): Tensor {
  return x.dtype === 'int32' ? x.clone() : toInt32Op([x], {});
}
