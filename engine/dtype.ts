/**
 * Element types. float32, int32 and uint32 are 4 bytes wide, and movement kernels copy words whatever their
 * dtype. float16 (2 bytes, two to a 32-bit word) is a storage type of mixed precision only
 * (engine/precision.ts): the f16 copies of activations and weights that the matmul and convolution kernels
 * read; casts make it, reads give its values as float32, and every other op refuses it.
 */
import { decodeHalves, encodeHalves } from './half.js';

export type DType = 'float32' | 'int32' | 'uint32' | 'float16';
export type TypedArray = Float32Array | Int32Array | Uint32Array;
export const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32', 'float16'];

/** Bytes per element. */
export function elementBytes(dtype: DType): number {
  return dtype === 'float16' ? 2 : 4;
}

/** Bytes of the storage of `n` elements: whole 32-bit words (an odd float16 count ends with a padding half). */
export function storageBytes(dtype: DType, n: number): number {
  return Math.ceil((n * elementBytes(dtype)) / 4) * 4;
}

/** The `n` values in `buf` (float16 decoded to float32). */
export function typedArrayFor(dtype: DType, buf: ArrayBuffer, n = buf.byteLength / elementBytes(dtype)): TypedArray {
  if (dtype === 'float16') return decodeHalves(buf, n);
  return dtype === 'float32' ? new Float32Array(buf, 0, n) : dtype === 'int32' ? new Int32Array(buf, 0, n) : new Uint32Array(buf, 0, n);
}

/** `data` as the bytes of a `dtype` storage (float16 rounded to nearest even). */
export function toTypedArray(dtype: DType, data: ArrayLike<number>): Float32Array | Int32Array | Uint32Array | Uint16Array {
  if (dtype === 'float16') return encodeHalves(data);
  return dtype === 'float32' ? Float32Array.from(data) : dtype === 'int32' ? Int32Array.from(data) : Uint32Array.from(data);
}

export function assertDType(dtype: string, arg = 'dtype'): asserts dtype is DType {
  if (!DTYPES.includes(dtype as DType)) throw new TypeError(`${arg}: expected one of ${DTYPES.join(', ')}, got '${dtype}'`);
}

/** A tensor's shape and element type without its data: what a state dict is checked against before any upload. */
export interface TensorSpec { readonly shape: readonly number[]; readonly dtype: DType }
