import { mkdtempSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readIdx } from '../../training/data/idx.js';
import { loadFashionMnist } from '../../training/data/fashion_mnist.js';
import { loadCifar10, loadCifar100, readCifarFiles } from '../../training/data/cifar.js';
import { DataFileError } from '../../training/data/data_file.js';

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
    expect(() => readIdx(t)).toThrow(/t\.idx: truncated: header says 6 bytes of data, file has 3 \(data from byte 12, ends at byte 15\)/);
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
    expect(() => readIdx(long)).toThrow(DataFileError);
  });

  it('Fashion-MNIST labels are checked against the 10 classes at load, naming the file and the record', () => {
    const fm = mkdtempSync(join(tmpdir(), 'fm-'));
    writeFileSync(join(fm, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([3, 28, 28], Array.from({ length: 3 * 784 }, (_, i) => (i * 20) % 256))));
    writeFileSync(join(fm, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([3], [9, 0, 4])));
    const s = loadFashionMnist('test', undefined, fm);
    expect([...s.labels]).toEqual([9, 0, 4]);
    expect(s.shape).toEqual([1, 28, 28]);
    expect(s.images[5]).toBeCloseTo(100 / 255, 6);
    writeFileSync(join(fm, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([3], [9, 0, 10])));
    // Checked even for the examples a limit leaves out.
    expect(() => loadFashionMnist('test', 1, fm)).toThrow(/t10k-labels-idx1-ubyte\.gz: label 10 of record 2 \(byte offset 10\) is outside 0-9 \(10 classes\)/);
    writeFileSync(join(fm, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([2], [9, 0])));
    expect(() => loadFashionMnist('test', 1, fm)).toThrow(/t10k-labels-idx1-ubyte\.gz: header gives shape \[2\], expected \[3\] \(one label per image/);
  });
});

/** CIFAR binary records: [labels..., 3072 pixels], pixel j of record r = (r * 7 + j) % 256. */
function cifar(labels: number[][]): Buffer {
  return Buffer.concat(labels.map((ls, r) => Buffer.from([...ls, ...Array.from({ length: 3072 }, (_, j) => (r * 7 + j) % 256)])));
}

describe('CIFAR binary reader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cifar-'));

  it('reads CIFAR-10 train (data_batch_1-5) and test into NCHW images in [0, 1] with int32 labels', () => {
    const d = mkdtempSync(join(dir, 'c10-'));
    for (let b = 1; b <= 5; b++) writeFileSync(join(d, `data_batch_${b}.bin`), cifar([[b], [b + 4]]));
    writeFileSync(join(d, 'test_batch.bin'), cifar([[3], [0], [9]]));
    const train = loadCifar10('train', { dir: d });
    expect(train.n).toBe(10);
    expect(train.shape).toEqual([3, 32, 32]);
    expect(train.labels).toBeInstanceOf(Int32Array);
    expect([...train.labels]).toEqual([1, 5, 2, 6, 3, 7, 4, 8, 5, 9]);
    // Record 1 of a file, channel 2 (blue), row 3, column 4: byte 2 * 1024 + 3 * 32 + 4 of its pixels.
    const j = 2 * 1024 + 3 * 32 + 4;
    expect(train.images[1 * 3072 + j]).toBeCloseTo(((7 + j) % 256) / 255, 7);
    expect(Math.max(...train.images.subarray(0, 3072))).toBe(1);
    const test = loadCifar10('test', { dir: d, limit: 2 });
    expect([...test.labels]).toEqual([3, 0]);
    expect(test.images.length).toBe(2 * 3072);
    expect(loadCifar10('train', { dir: d, limit: 3 }).labels).toEqual(Int32Array.from([1, 5, 2]));
  });

  it('reads CIFAR-100 with fine labels by default, coarse on request', () => {
    const d = mkdtempSync(join(dir, 'c100-'));
    writeFileSync(join(d, 'train.bin'), cifar([[19, 99], [0, 3]]));
    writeFileSync(join(d, 'test.bin'), cifar([[4, 50]]));
    expect([...loadCifar100('train', { dir: d }).labels]).toEqual([99, 3]);
    expect([...loadCifar100('train', { dir: d, labels: 'coarse' }).labels]).toEqual([19, 0]);
    const t = loadCifar100('test', { dir: d });
    expect([...t.labels]).toEqual([50]);
    expect(t.images[3071]).toBeCloseTo((3071 % 256) / 255, 7);
  });

  it('refuses a missing, truncated or foreign file and out-of-range labels, naming the file, the byte offset and what was expected', () => {
    const d = mkdtempSync(join(dir, 'bad-'));
    for (let b = 1; b <= 5; b++) writeFileSync(join(d, `data_batch_${b}.bin`), cifar([[0]]));
    unlinkSync(join(d, 'data_batch_3.bin'));
    expect(() => loadCifar10('train', { dir: d })).toThrow(DataFileError);
    expect(() => loadCifar10('train', { dir: d })).toThrow(/data_batch_3\.bin: file not found \(expected a CIFAR-10 binary file of 3073-byte records\)/);
    const f = join(d, 'cut.bin');
    writeFileSync(f, cifar([[1], [2], [3]]).subarray(0, 3 * 3073 - 100));
    expect(() => readCifarFiles([f], 'cifar10')).toThrow(/cut\.bin: truncated or not CIFAR-10: 9119 bytes is not a whole number of 3073-byte records \(2 records, then 2973 bytes of record 2 from byte offset 6146\)/);
    writeFileSync(f, '');
    expect(() => readCifarFiles([f], 'cifar10')).toThrow(/cut\.bin: empty, expected CIFAR-10 records of 3073 bytes/);
    // A CIFAR-100 file is not taken for CIFAR-10 (3074-byte records).
    writeFileSync(f, cifar([[1, 2], [3, 4], [5, 6]]));
    expect(() => readCifarFiles([f], 'cifar10')).toThrow(/not a whole number of 3073-byte records/);
    writeFileSync(f, cifar([[1], [10]]));
    expect(() => readCifarFiles([f], 'cifar10')).toThrow(/cut\.bin: CIFAR-10 label 10 of record 1 \(byte offset 3073\) is outside 0-9 \(10 classes\)/);
    writeFileSync(f, cifar([[1, 2], [3, 100]]));
    expect(() => readCifarFiles([f], 'cifar100-fine')).toThrow(/CIFAR-100 fine label 100 of record 1 \(byte offset 3075\) is outside 0-99/);
    // Both labels are checked whichever is asked for.
    writeFileSync(f, cifar([[20, 2]]));
    expect(() => readCifarFiles([f], 'cifar100-fine')).toThrow(/CIFAR-100 coarse label 20 of record 0 \(byte offset 0\) is outside 0-19/);
  });

  it('without a folder it says which variable to set', () => {
    const saved = process.env.ROBUSTGPU_CIFAR10;
    delete process.env.ROBUSTGPU_CIFAR10;
    try {
      expect(() => loadCifar10('test')).toThrow(/set ROBUSTGPU_CIFAR10 to the folder/);
    } finally {
      if (saved !== undefined) process.env.ROBUSTGPU_CIFAR10 = saved;
    }
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
    expect(() => loadFashionMnist('test', undefined, dir)).toThrow(/t10k-labels-idx1-ubyte.gz: label 12 of record 1 \(byte offset 9\) is outside 0-9 \(10 classes\)/);
    // A corrupt label file is refused whole, even where a limit would leave the bad label out.
    expect(() => loadFashionMnist('test', 1, dir)).toThrow(/label 12 of record 1/);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([3], [3, 1, 2])));
    expect(() => loadFashionMnist('test', undefined, dir)).toThrow(/t10k-labels-idx1-ubyte.gz: header gives shape \[3\], expected \[2\]/);
  });
});
