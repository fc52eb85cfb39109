/** Creation functions: tensors from data, constants, and uninitialised outputs for op forwards. */
import { getDefaultDevice, type Device } from './device.js';
import { assertDType, storageBytes, toTypedArray, type DType } from './dtype.js';
import { halfBits } from './half.js';
import { checkShape, fmt, sizeOf, type Shape } from './shape.js';
import { Storage, Tensor } from './tensor.js';
import { runFill } from '../kernels/copy.js';
import { currentOp } from './op_context.js';

export interface CreateOptions { device?: Device; dtype?: DType }

/**
 * Internal: a tensor whose buffer is not initialised (op forwards write every element). Throws
 * DeviceLimitError, before anything is allocated, when the device could not bind a tensor that large; the
 * message names the op running (else `op`, the creation function) and the shape.
 */
export function empty(device: Device, shape: Shape, dtype: DType = 'float32', op?: string): Tensor {
  const bytes = storageBytes(dtype, sizeOf(shape));
  device.checkTensor(bytes, shape, dtype, currentOp() ?? op ?? 'empty');
  return new Tensor(new Storage(device, device.acquire(Math.max(4, bytes)), bytes), [...shape], dtype);
}

type Nested = number | readonly Nested[];

function flatten(data: Nested, shape: number[], depth: number, out: number[]): void {
  if (typeof data === 'number') {
    if (depth !== shape.length && shape.length > 0) throw new RangeError('tensor: ragged nested array');
    out.push(data);
    return;
  }
  if (shape.length <= depth) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new RangeError(`tensor: ragged nested array (dim ${depth} has lengths ${shape[depth]} and ${data.length})`);
  for (const d of data) flatten(d, shape, depth + 1, out);
}

/**
 * A tensor from data: a typed array or flat array with `shape`, or nested arrays (shape inferred).
 * float32 unless `dtype` says otherwise (an Int32Array or Uint32Array keeps its type).
 */
export function tensor(data: Nested | ArrayLike<number>, shape?: Shape, opts: CreateOptions = {}): Tensor {
  const device = opts.device ?? getDefaultDevice();
  let dtype: DType = opts.dtype ?? (data instanceof Int32Array ? 'int32' : data instanceof Uint32Array ? 'uint32' : 'float32');
  assertDType(dtype, 'tensor: dtype');
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (typeof data === 'number') { flat = [data]; inferred = []; }
  else if (ArrayBuffer.isView(data) || !Array.isArray(data) || data.every((v) => typeof v === 'number')) {
    flat = data as ArrayLike<number>;
    inferred = [flat.length];
  } else {
    const out: number[] = [];
    inferred = [];
    flatten(data as Nested, inferred, 0, out);
    flat = out;
  }
  const s = shape ? [...shape] : inferred;
  checkShape(s, 'tensor: shape');
  if (sizeOf(s) !== flat.length) throw new RangeError(`tensor: shape ${fmt(s)} needs ${sizeOf(s)} values, got ${flat.length}`);
  const t = empty(device, s, dtype, 'tensor');
  if (flat.length) device.uploadFresh(t.storage.buffer, toTypedArray(dtype, flat));
  return t;
}

/** The 32-bit pattern of `value` in `dtype` (float16: the value in both halves). */
function word(value: number, dtype: DType): number {
  const v = new DataView(new ArrayBuffer(4));
  if (dtype === 'float16') return (halfBits(value) * 0x10001) >>> 0;
  if (dtype === 'float32') v.setFloat32(0, value, true);
  else if (dtype === 'int32') v.setInt32(0, value, true);
  else v.setUint32(0, value, true);
  return v.getUint32(0, true);
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  checkShape(shape, 'full: shape');
  const device = opts.device ?? getDefaultDevice();
  const dtype = opts.dtype ?? 'float32';
  assertDType(dtype, 'full: dtype');
  const t = empty(device, shape, dtype, 'full');
  runFill(device, t.storage.binding(), t.storage.bytes / 4, word(value, dtype));
  return t;
}

export const zeros = (shape: Shape, opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: Shape, opts: CreateOptions = {}): Tensor => full(shape, 1, opts);
export const fullLike = (t: Tensor, value: number): Tensor => full(t.shape, value, { device: t.device, dtype: t.dtype });
export const zerosLike = (t: Tensor): Tensor => fullLike(t, 0);
export const onesLike = (t: Tensor): Tensor => fullLike(t, 1);

/** 0, 1, ..., n-1 (computed on the CPU and uploaded; used for indices and tests). */
export function arange(n: number, opts: CreateOptions = {}): Tensor {
  return tensor(Array.from({ length: n }, (_, i) => i), [n], opts);
}
