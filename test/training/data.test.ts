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
    expect(() => readIdx(f)).toThrow(/not an IDX file/);
    expect(() => readIdx(join(dir, 'nope.idx'))).toThrow(/nope.idx: file not found/);
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

  it('names the package when the data is missing', () => {
    expect(() => loadFashionMnist('train', 1, '/nonexistent')).toThrow(/apt-get install dataset-fashion-mnist/);
  });
});
