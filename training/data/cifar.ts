/**
 * CIFAR-10 and CIFAR-100 in their binary versions (the `cifar-10-batches-bin` and `cifar-100-binary`
 * folders of the official archives). A CIFAR-10 record is 1 label byte and 3072 pixel bytes; a CIFAR-100
 * record is a coarse label byte (20 superclasses), a fine label byte (100 classes) and 3072 pixel bytes.
 * Pixels are 32x32 per channel, the red plane first (CHW), so they become NCHW images in [0, 1] as they are.
 * No data set ships with the project: give the folder, or set ROBUSTGPU_CIFAR10 / ROBUSTGPU_CIFAR100.
 */
import { join } from 'node:path';
import type { ImageSet } from './fashion_mnist.js';
import { checkLabels, DataFileError, readDataFile } from './data_file.js';

const PIXELS = 3 * 32 * 32;

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The layout of one kind of file: bytes before the pixels, and where each label is. */
export type CifarFormat = 'cifar10' | 'cifar100-fine' | 'cifar100-coarse';
const FORMATS: Record<CifarFormat, { name: string; header: number; label: number; classes: number; what: string }> = {
  cifar10: { name: 'CIFAR-10', header: 1, label: 0, classes: 10, what: 'label' },
  'cifar100-fine': { name: 'CIFAR-100', header: 2, label: 1, classes: 100, what: 'fine label' },
  'cifar100-coarse': { name: 'CIFAR-100', header: 2, label: 0, classes: 20, what: 'coarse label' },
};

export interface CifarOptions {
  /** The folder holding the .bin files (default: ROBUSTGPU_CIFAR10 or ROBUSTGPU_CIFAR100). */
  dir?: string;
  /** Keep the first n examples (of the split's files in order). */
  limit?: number;
}

/**
 * Reads CIFAR binary files in order into one set. Every file is checked whole before anything is decoded:
 * its size must be a whole number of records, and every label (both labels of CIFAR-100) must be in range.
 */
export function readCifarFiles(files: readonly string[], format: CifarFormat, limit = Infinity): ImageSet {
  const f = FORMATS[format];
  const record = f.header + PIXELS;
  const bufs = files.map((path) => {
    const buf = readDataFile(path, `a ${f.name} binary file of ${record}-byte records`);
    const whole = Math.floor(buf.length / record);
    if (buf.length === 0) throw new DataFileError(`${path}: empty, expected ${f.name} records of ${record} bytes`);
    if (buf.length % record !== 0) {
      throw new DataFileError(`${path}: truncated or not ${f.name}: ${buf.length} bytes is not a whole number of ${record}-byte records (${whole} records, then ${buf.length % record} bytes of record ${whole} from byte offset ${whole * record})`);
    }
    const all = format === 'cifar10' ? [FORMATS.cifar10] : [FORMATS['cifar100-coarse'], FORMATS['cifar100-fine']];
    for (const g of all) {
      const labels = new Uint8Array(whole);
      for (let i = 0; i < whole; i++) labels[i] = buf[i * record + g.label]!;
      checkLabels(labels, g.classes, path, { first: g.label, stride: record, what: `${g.name} ${g.what}` });
    }
    return buf;
  });
  const total = bufs.reduce((s, b) => s + b.length / record, 0);
  const n = Math.min(total, Math.max(0, limit));
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  let k = 0;
  for (const buf of bufs) {
    for (let r = 0; r < buf.length / record && k < n; r++, k++) {
      const at = r * record;
      labels[k] = buf[at + f.label]!;
      for (let j = 0; j < PIXELS; j++) images[k * PIXELS + j] = buf[at + f.header + j]! / 255;
    }
  }
  return { images, labels, n, shape: [3, 32, 32] };
}

function folder(dir: string | undefined, env: string, archive: string): string {
  const d = dir ?? process.env[env];
  if (!d) throw new DataFileError(`no ${archive} folder: pass dir or set ${env} to the folder of the binary version's .bin files`);
  return d;
}

/** CIFAR-10: train is data_batch_1.bin ... data_batch_5.bin, test is test_batch.bin. */
export function loadCifar10(split: 'train' | 'test', opts: CifarOptions = {}): ImageSet {
  const dir = folder(opts.dir, 'ROBUSTGPU_CIFAR10', 'cifar-10-batches-bin');
  const names = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  return readCifarFiles(names.map((n) => join(dir, n)), 'cifar10', opts.limit);
}

/** CIFAR-100: train.bin or test.bin, with the fine (100 classes, default) or coarse (20 superclasses) labels. */
export function loadCifar100(split: 'train' | 'test', opts: CifarOptions & { labels?: 'fine' | 'coarse' } = {}): ImageSet {
  const dir = folder(opts.dir, 'ROBUSTGPU_CIFAR100', 'cifar-100-binary');
  return readCifarFiles([join(dir, `${split}.bin`)], opts.labels === 'coarse' ? 'cifar100-coarse' : 'cifar100-fine', opts.limit);
}
