import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readIdx } from '../../training/data/idx.js';
import { loadFashionMnist } from '../../training/data/fashion_mnist.js';

function idx(shape: number[], data: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * shape.length);
  head[2] = 0x08;
  head[3] = shape.length;
  shape.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

describe('IDX reader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-'));
  it('reads raw and gzip files with their shape', () => {
    const raw = join(dir, 'a.idx');
    writeFileSync(raw, idx([2, 3], [1, 2, 3, 4, 5, 6]));
    const gz = join(dir, 'a.idx.gz');
    writeFileSync(gz, gzipSync(idx([2, 3], [1, 2, 3, 4, 5, 6])));
    for (const f of [raw, gz]) {
      const r = readIdx(f);
      expect(r.shape).toEqual([2, 3]);
      expect([...r.data]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it('refuses truncated, foreign and missing files with the reason', () => {
    const t = join(dir, 't.idx');
    writeFileSync(t, idx([2, 3], [1, 2, 3]));
    expect(() => readIdx(t)).toThrow(/truncated: header says 6 bytes of data, file has 3/);
    const f = join(dir, 'f.idx');
    writeFileSync(f, Buffer.from('hello world'));
    expect(() => readIdx(f)).toThrow(/not an IDX file: bytes 0-1 are 0x68 0x65, expected the magic 0x00 0x00/);
    expect(() => readIdx(join(dir, 'nope.idx'))).toThrow(/nope.idx: file not found/);
    const long = join(dir, 'l.idx');
    writeFileSync(long, idx([2], [1, 2, 3]));
    expect(() => readIdx(long)).toThrow(/l.idx: 1 bytes after the data at byte 10, expected the end of file/);
    const wide = join(dir, 'w.idx');
    const w = idx([1], [1]);
    w[2] = 0x0d;
    writeFileSync(wide, w);
    expect(() => readIdx(wide)).toThrow(/w.idx: byte 2 \(IDX element type\) is 0x0d, expected 0x08/);
    const head = join(dir, 'h.idx');
    writeFileSync(head, idx([2, 3], []).subarray(0, 9));
    expect(() => readIdx(head)).toThrow(/h.idx: truncated IDX header: byte 3 gives rank 2, so the header needs 12 bytes; the file has 9/);
  });
});

describe('Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('loads images in [0,1] with labels 0-9', () => {
    const s = loadFashionMnist('test', 200);
    expect(s.n).toBe(200);
    expect(s.images.length).toBe(200 * 784);
    expect(s.images.reduce((a, b) => Math.min(a, b))).toBe(0);
    expect(s.images.reduce((a, b) => Math.max(a, b))).toBe(1);
    expect(new Set(s.labels).size).toBe(10);
    // The first test image of Fashion-MNIST is an ankle boot (class 9).
    expect(s.labels[0]).toBe(9);
  });

  it('names the directory, the missing files and the package when the data is missing', () => {
    expect(() => loadFashionMnist('train', 1, '/nonexistent')).toThrow(
      /\/nonexistent lacks train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz .*apt-get install dataset-fashion-mnist/);
  });

  it('refuses a label outside 0-9 naming the file and its byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-'));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([2, 28, 28], new Array<number>(2 * 784).fill(7))));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([2], [3, 12])));
    expect(() => loadFashionMnist('test', undefined, dir)).toThrow(/t10k-labels-idx1-ubyte.gz: byte 9 \(label of image 1\) is 12, expected a class 0-9/);
    // The first image's label is fine: a limit stops before the bad one.
    const s = loadFashionMnist('test', 1, dir);
    expect(s.n).toBe(1);
    expect(s.images[0]).toBeCloseTo(7 / 255, 7);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([3], [3, 1, 2])));
    expect(() => loadFashionMnist('test', undefined, dir)).toThrow(/t10k-labels-idx1-ubyte.gz: header gives shape \[3\], expected \[2\]/);
  });
});
