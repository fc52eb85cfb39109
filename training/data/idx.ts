/** Reader for the IDX format of (Fashion-)MNIST, gzip-compressed or raw. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray { shape: number[]; data: Uint8Array }

export function readIdx(path: string): IdxArray {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try { buf = gunzipSync(buf); } catch (e) { throw new Error(`${path}: corrupt gzip data (${(e as Error).message})`); }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new Error(`${path}: not an IDX file (bad magic bytes)`);
  if (buf[2] !== 0x08) throw new Error(`${path}: IDX element type 0x${buf[2]!.toString(16)} is not unsigned byte (0x08)`);
  const rank = buf[3]!;
  if (buf.length < 4 + 4 * rank) throw new Error(`${path}: truncated IDX header`);
  const shape = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const n = shape.reduce((p, q) => p * q, 1);
  const start = 4 + 4 * rank;
  if (buf.length - start < n) throw new Error(`${path}: truncated: header says ${n} bytes of data, file has ${buf.length - start}`);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + start, n) };
}
