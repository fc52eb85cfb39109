/**
 * The safetensors format (a little-endian u64 header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian bytes), read and written on the CPU. Writes go to a
 * temporary file that is renamed over the target, so a crash never leaves a half-written checkpoint.
 * Reading checks every offset and size against the file and names the tensor and byte offset at fault.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';

export type StDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';
const BYTES: Record<StDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

/** A tensor as stored: float data as Float32Array, integers as Int32Array (I64 values must fit in int32). */
export interface StTensor { dtype: StDType; shape: number[]; data: Float32Array | Int32Array | Float64Array | Uint8Array }

export class SafetensorsError extends Error {}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function decode(name: string, dtype: StDType, bytes: Buffer, n: number, file: string): StTensor['data'] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat32(4 * i, true); return a; }
    case 'F64': { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat64(8 * i, true); return a; }
    case 'F16': { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = f16ToF32(view.getUint16(2 * i, true)); return a; }
    case 'BF16': { const a = new Float32Array(n); const u = new Uint32Array(a.buffer); for (let i = 0; i < n; i++) u[i] = view.getUint16(2 * i, true) << 16; return a; }
    case 'I32': { const a = new Int32Array(n); for (let i = 0; i < n; i++) a[i] = view.getInt32(4 * i, true); return a; }
    case 'U8': return Uint8Array.from(bytes.subarray(0, n));
    case 'I64': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) throw new SafetensorsError(`${file}: tensor '${name}' element ${i} = ${v} does not fit in int32`);
        a[i] = Number(v);
      }
      return a;
    }
  }
}

export interface SafetensorsFile { tensors: Map<string, StTensor>; metadata: Record<string, string> }

export function readSafetensors(file: string): SafetensorsFile {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new SafetensorsError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  if (buf.length < 8) throw new SafetensorsError(`${file}: truncated: ${buf.length} bytes, the 8-byte header length is missing`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (8 + headerLen > buf.length) throw new SafetensorsError(`${file}: truncated: the header claims ${headerLen} bytes from byte offset 8 but the file has ${buf.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(`${file}: corrupt header (bytes 8-${8 + headerLen}): ${(e as Error).message}`);
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, StTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = entry as Record<string, string>; continue; }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = e.dtype as StDType;
    if (!(dtype in BYTES)) throw new SafetensorsError(`${file}: tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) throw new SafetensorsError(`${file}: tensor '${name}' has a malformed header entry`);
    const n = e.shape.reduce((p, q) => p * q, 1);
    const [begin, end] = e.data_offsets;
    if (end - begin !== n * BYTES[dtype]) throw new SafetensorsError(`${file}: tensor '${name}' [${e.shape}] ${dtype} needs ${n * BYTES[dtype]} bytes, its offsets span ${end - begin}`);
    if (dataStart + end > buf.length) throw new SafetensorsError(`${file}: truncated: tensor '${name}' ends at byte offset ${dataStart + end} but the file has ${buf.length} bytes`);
    tensors.set(name, { dtype, shape: [...e.shape], data: decode(name, dtype, buf.subarray(dataStart + begin, dataStart + end), n, file) });
  }
  return { tensors, metadata };
}

function encode(t: StTensor): Buffer {
  const n = t.data.length;
  const out = Buffer.alloc(n * BYTES[t.dtype]);
  for (let i = 0; i < n; i++) {
    const v = t.data[i]!;
    switch (t.dtype) {
      case 'F32': out.writeFloatLE(v, 4 * i); break;
      case 'F64': out.writeDoubleLE(v, 8 * i); break;
      case 'I32': out.writeInt32LE(v, 4 * i); break;
      case 'I64': out.writeBigInt64LE(BigInt(v), 8 * i); break;
      case 'U8': out.writeUInt8(v, i); break;
      default: throw new SafetensorsError(`writing ${t.dtype} is not supported`);
    }
  }
  return out;
}

/** Writes tensors (in the given order) and string metadata atomically: temporary file, fsync, rename. */
export function writeSafetensors(file: string, tensors: Map<string, StTensor> | [string, StTensor][], metadata: Record<string, string> = {}): void {
  const entries = tensors instanceof Map ? [...tensors.entries()] : tensors;
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Buffer[] = [];
  let off = 0;
  for (const [name, t] of entries) {
    const n = t.shape.reduce((p, q) => p * q, 1);
    if (n !== t.data.length) throw new SafetensorsError(`tensor '${name}': shape [${t.shape}] needs ${n} values, got ${t.data.length}`);
    const b = encode(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + b.length] };
    blobs.push(b);
    off += b.length;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to a multiple of 8 so the data is aligned, as the reference writer does.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    writeSync(fd, json);
    for (const b of blobs) writeSync(fd, b);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
}
