/**
 * The safetensors format (a little-endian u64 header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian bytes), read and written on the CPU. Writes go to a
 * temporary file that is renamed over the target, so a crash never leaves a half-written checkpoint.
 * Reading checks the whole header against the format before decoding and names the file, the tensor and
 * the byte offset at fault; a file it accepts decodes without a read out of bounds.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';

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

/** The file's byte order is the host's (true on every platform Node runs on today): whole tensors are copied. */
const LITTLE_ENDIAN = endianness() === 'LE';
const NATIVE: Partial<Record<StDType, Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor>> = { F32: Float32Array, F64: Float64Array, I32: Int32Array };

function decode(name: string, dtype: StDType, bytes: Buffer, n: number, file: string): StTensor['data'] {
  const Native = NATIVE[dtype];
  if (LITTLE_ENDIAN && Native) {
    const a = new Native(n);
    new Uint8Array(a.buffer).set(bytes);
    return a;
  }
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

/** The reference implementation refuses larger headers too: a bound on what a hostile file makes us parse. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const ENTRY_KEYS = ['dtype', 'shape', 'data_offsets'];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface Region { name: string; begin: number; end: number }

/**
 * Reads a whole file and checks it against the format before decoding anything: the header is a JSON object
 * starting with '{'; `__metadata__` maps strings to strings; every other entry is exactly
 * {dtype, shape, data_offsets} with non-negative integer dimensions and offsets, whose byte range matches
 * its shape and lies in the data section; and the ranges tile the data section with no overlap and no hole
 * (the format requires it; it also defuses duplicate keys, whose dropped twin leaves a hole). Sizes are
 * checked against the file before anything is allocated.
 */
export function readSafetensors(file: string): SafetensorsFile {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new SafetensorsError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  const bad = (msg: string): never => { throw new SafetensorsError(`${file}: ${msg}`); };
  if (buf.length < 8) bad(`truncated: ${buf.length} bytes, the 8-byte header length is missing`);
  const claimed = buf.readBigUInt64LE(0);
  if (claimed > BigInt(buf.length - 8)) bad(`truncated: the header claims ${claimed} bytes from byte offset 8 but the file has ${buf.length} bytes`);
  const headerLen = Number(claimed);
  if (headerLen > MAX_HEADER_BYTES) bad(`the header claims ${headerLen} bytes, more than the ${MAX_HEADER_BYTES} this reader accepts`);
  const headBytes = buf.subarray(8, 8 + headerLen);
  if (headBytes[0] !== 0x7b) bad(`corrupt header (bytes 8-${8 + headerLen}): it must start with '{'`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headBytes));
  } catch (e) {
    return bad(`corrupt header (bytes 8-${8 + headerLen}): ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) return bad(`corrupt header (bytes 8-${8 + headerLen}): expected a JSON object`);
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: [string, StDType, number[], Region][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) bad(`__metadata__ must be an object of strings, got ${JSON.stringify(entry)}`);
      for (const [k, v] of Object.entries(entry as object)) if (typeof v !== 'string') bad(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    const where = `tensor '${name}'`;
    if (!isPlainObject(entry)) return bad(`${where}: expected {dtype, shape, data_offsets}, got ${JSON.stringify(entry)}`);
    for (const k of Object.keys(entry)) if (!ENTRY_KEYS.includes(k)) bad(`${where}: unknown field '${k}' (a tensor entry holds ${ENTRY_KEYS.join(', ')})`);
    const dtype = entry.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype)) return bad(`${where}: unsupported dtype ${JSON.stringify(dtype)} (${Object.keys(BYTES).join(', ')})`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every(isIndex)) return bad(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    const offs = entry.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex)) return bad(`${where}: data_offsets must be two non-negative integers [begin, end], got ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    if (begin > end) bad(`${where}: data_offsets [${begin}, ${end}] begin after they end`);
    if (end > dataLen) bad(`truncated: ${where} ends at byte offset ${dataStart + end} but the file has ${buf.length} bytes`);
    // Huge dimensions make an inexact or infinite product, never one equal to a span inside the file.
    const bytes = shape.includes(0) ? 0 : (shape as number[]).reduce((p, d) => p * d, BYTES[dtype as StDType]);
    if (bytes !== end - begin) bad(`${where} [${shape.join(', ')}] ${dtype} needs ${Number.isSafeInteger(bytes) ? bytes : `about ${bytes.toExponential(3)}`} bytes, its data_offsets [${begin}, ${end}] span ${end - begin}`);
    entries.push([name, dtype as StDType, shape as number[], { name, begin, end }]);
  }
  let covered = 0;
  for (const r of entries.map((e) => e[3]).sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (r.begin < covered) bad(`tensor '${r.name}': data_offsets [${r.begin}, ${r.end}] overlap another tensor's bytes (up to ${covered})`);
    if (r.begin > covered) bad(`bytes ${covered}-${r.begin} of the data section (byte offset ${dataStart + covered}) belong to no tensor (before tensor '${r.name}')`);
    covered = r.end;
  }
  if (covered !== dataLen) bad(`${dataLen - covered} bytes after the last tensor (from byte offset ${dataStart + covered}) belong to no tensor`);
  const tensors = new Map<string, StTensor>();
  for (const [name, dtype, shape, r] of entries) {
    const n = (r.end - r.begin) / BYTES[dtype];
    tensors.set(name, { dtype, shape: [...shape], data: decode(name, dtype, buf.subarray(dataStart + r.begin, dataStart + r.end), n, file) });
  }
  return { tensors, metadata };
}

function encode(t: StTensor): Buffer {
  const Native = NATIVE[t.dtype];
  if (LITTLE_ENDIAN && Native && t.data instanceof Native) return Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
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

/** Temporary files of this process's writes in progress (a leftover of our own pid not in here is stale). */
const writing = new Set<string>();
let tmpCount = 0;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes `<target>.tmp-<pid>-<n>` files left by writes to `target` that were killed before their rename: those
 * of a process that is gone, and those of this process that no write of ours holds. The temporary files of
 * other targets in the folder, and of live writers to this one, are left alone.
 */
function removeStaleTemporaries(target: string): void {
  const dir = dirname(target);
  const prefix = `${basename(target)}.tmp-`;
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)(?:-\d+)?$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    const path = join(dir, name);
    if (pid === process.pid ? writing.has(path) : isAlive(pid)) continue;
    try { unlinkSync(path); } catch { /* removed by someone else meanwhile */ }
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
}

/** A file's bytes, in pieces (header length, header, each tensor's data): tensors in the given order. */
export function serializeSafetensors(tensors: Map<string, StTensor> | [string, StTensor][], metadata: Record<string, string> = {}): Buffer[] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : tensors;
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new SafetensorsError(`metadata '${k}' must be a string, got ${typeof v}`);
  const blobs: Buffer[] = [];
  let off = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new SafetensorsError(`'__metadata__' is reserved and cannot name a tensor`);
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
  return [head, Buffer.from(json), ...blobs];
}

/**
 * Writes tensors (in the given order) and string metadata atomically: a temporary file beside the target,
 * fsync, rename over the target, fsync of the folder (so the rename itself survives a power cut). A reader
 * sees the old file or the new one, never a mix; a write killed half-way leaves a temporary file that the
 * next write to the same target removes.
 */
export function writeSafetensors(file: string, tensors: Map<string, StTensor> | [string, StTensor][], metadata: Record<string, string> = {}): void {
  let pieces: Buffer[];
  try {
    pieces = serializeSafetensors(tensors, metadata);
  } catch (e) {
    throw e instanceof SafetensorsError ? new SafetensorsError(`${file}: ${e.message}`) : e;
  }
  removeStaleTemporaries(file);
  const tmp = `${file}.tmp-${process.pid}-${tmpCount++}`;
  writing.add(tmp);
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const b of pieces) writeAll(fd, b);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* never created, or renamed */ }
    throw e;
  } finally {
    writing.delete(tmp);
  }
  syncFolder(dirname(file));
}

function syncFolder(dir: string): void {
  let fd: number;
  try { fd = openSync(dir, 'r'); } catch { return; }
  // Some systems cannot fsync a folder (EISDIR, EINVAL on Windows); the data itself is already synced.
  try { fsyncSync(fd); } catch { /* best effort */ } finally { closeSync(fd); }
}
