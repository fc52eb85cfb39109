/**
 * Reader for the IDX format of (Fashion-)MNIST, gzip-compressed or raw. Errors name the file, the byte
 * offset (in the decompressed data for a .gz) and what was expected there.
 */
import { gunzipSync } from 'node:zlib';
import { DataFileError, readDataFile } from './data_file.js';

export interface IdxArray { shape: number[]; data: Uint8Array; /** Byte offset of data[0] in the (decompressed) file. */ dataOffset: number }

const hex = (b: number | undefined): string => (b === undefined ? 'end of file' : `0x${b.toString(16).padStart(2, '0')}`);

/** Larger than any (Fashion-)MNIST file (47 MB); a bound on what a corrupt or hostile gzip stream inflates to. */
const MAX_INFLATED_BYTES = 1 << 30;

/**
 * Reads an IDX file of unsigned bytes: magic 0x0000 0x08 rank, then `rank` big-endian u32 dimensions, then
 * exactly their product of bytes. Anything else (a truncated file, trailing bytes, another element type) is
 * a DataFileError naming the file and what was expected.
 */
export function readIdx(path: string): IdxArray {
  let buf = readDataFile(path, 'an IDX file');
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: MAX_INFLATED_BYTES });
    } catch (e) {
      throw new DataFileError(`${path}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new DataFileError(`${path}: not an IDX file: bytes 0-1 are ${hex(buf[0])} ${hex(buf[1])}, expected the magic 0x00 0x00`);
  }
  if (buf[2] !== 0x08) throw new DataFileError(`${path}: byte 2 (IDX element type) is ${hex(buf[2])}, expected 0x08 (unsigned byte)`);
  const rank = buf[3]!;
  const start = 4 + 4 * rank;
  if (buf.length < start) throw new DataFileError(`${path}: truncated IDX header: byte 3 gives rank ${rank}, so the header needs ${start} bytes; the file has ${buf.length}`);
  const shape = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const n = shape.reduce((p, q) => p * q, 1);
  if (buf.length - start < n) {
    throw new DataFileError(`${path}: truncated: header says ${n} bytes of data, file has ${buf.length - start} (data from byte ${start}, ends at byte ${buf.length})`);
  }
  if (buf.length - start > n) throw new DataFileError(`${path}: ${buf.length - start - n} bytes after the data at byte ${start + n}, expected the end of file (header says [${shape}])`);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + start, n), dataOffset: start };
}
