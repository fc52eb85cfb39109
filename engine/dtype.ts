/** Element types. Every dtype is 4 bytes wide, so movement kernels copy words whatever the dtype. */
export type DType = 'float32' | 'int32' | 'uint32';
export type TypedArray = Float32Array | Int32Array | Uint32Array;
export const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32'];

export function typedArrayFor(dtype: DType, buf: ArrayBuffer): TypedArray {
  return dtype === 'float32' ? new Float32Array(buf) : dtype === 'int32' ? new Int32Array(buf) : new Uint32Array(buf);
}

export function toTypedArray(dtype: DType, data: ArrayLike<number>): TypedArray {
  return dtype === 'float32' ? Float32Array.from(data) : dtype === 'int32' ? Int32Array.from(data) : Uint32Array.from(data);
}

export function assertDType(dtype: string, arg = 'dtype'): asserts dtype is DType {
  if (!DTYPES.includes(dtype as DType)) throw new TypeError(`${arg}: expected one of ${DTYPES.join(', ')}, got '${dtype}'`);
}

/** A tensor's shape and element type without its data: what a state dict is checked against before any upload. */
export interface TensorSpec { readonly shape: readonly number[]; readonly dtype: DType }
