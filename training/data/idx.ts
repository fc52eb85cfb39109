/**
 * Reader for the IDX format of (Fashion-)MNIST, gzip-compressed or raw. Errors name the file, the byte
 * offset (in the decompressed data for a .gz) and what was expected there.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray { shape: number[]; data: Uint8Array; /** Byte offset of data[0] in the (decompressed) file. */ dataOffset: number }

const hex = (b: number | undefined): string => (b === undefined ? 'end of file' : `0x${b.toString(16).padStart(2, '0')}`);

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
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new Error(`${path}: not an IDX file: bytes 0-1 are ${hex(buf[0])} ${hex(buf[1])}, expected the magic 0x00 0x00`);
  }
  if (buf[2] !== 0x08) throw new Error(`${path}: byte 2 (IDX element type) is ${hex(buf[2])}, expected 0x08 (unsigned byte)`);
  const rank = buf[3]!;
  const start = 4 + 4 * rank;
  if (buf.length < start) throw new Error(`${path}: truncated IDX header: byte 3 gives rank ${rank}, so the header needs ${start} bytes; the file has ${buf.length}`);
  const shape = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const n = shape.reduce((p, q) => p * q, 1);
  if (buf.length - start < n) {
    throw new Error(`${path}: truncated: header says ${n} bytes of data, file has ${buf.length - start} (data from byte ${start}, ends at byte ${buf.length})`);
  }
  if (buf.length - start > n) throw new Error(`${path}: ${buf.length - start - n} bytes after the data at byte ${start + n}, expected the end of file (header says [${shape}])`);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + start, n), dataOffset: start };
}
