/**
 * Fashion-MNIST from Debian's `dataset-fashion-mnist` package (or ROBUSTGPU_FASHION_MNIST, or a directory
 * given): 28x28 grey images scaled to [0, 1] (attacks work in this pixel space) and labels 0-9.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx } from './idx.js';
import { checkLabels, DataFileError } from './data_file.js';
import type { ImageSet } from './image_set.js';

export type { ImageSet } from './image_set.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export function fashionMnistDir(): string {
  return process.env.ROBUSTGPU_FASHION_MNIST ?? FASHION_MNIST_DIR;
}

/** The two files of a split. */
export function fashionMnistFiles(split: 'train' | 'test'): [string, string] {
  const prefix = split === 'train' ? 'train' : 't10k';
  return [`${prefix}-images-idx3-ubyte.gz`, `${prefix}-labels-idx1-ubyte.gz`];
}

/** Loads the train or test split; `limit` keeps the first n examples. */
export function loadFashionMnist(split: 'train' | 'test', limit?: number, dir = fashionMnistDir()): ImageSet {
  const files = fashionMnistFiles(split);
  const missing = files.filter((f) => !existsSync(join(dir, f)));
  if (missing.length) {
    throw new DataFileError(`Fashion-MNIST ${split}: ${dir} lacks ${missing.join(' and ')} (expected ${files.join(', ')}): install the data with ` +
      '`apt-get install dataset-fashion-mnist` (npm run setup does), or set ROBUSTGPU_FASHION_MNIST (--data) to its folder');
  }
  const [imgPath, labPath] = files.map((f) => join(dir, f)) as [string, string];
  const img = readIdx(imgPath);
  const lab = readIdx(labPath);
  if (img.shape.length !== 3 || img.shape[1] !== 28 || img.shape[2] !== 28) throw new DataFileError(`${imgPath}: header gives shape [${img.shape}], expected [n, 28, 28]`);
  if (lab.shape.length !== 1 || lab.shape[0] !== img.shape[0]) throw new DataFileError(`${labPath}: header gives shape [${lab.shape}], expected [${img.shape[0]}] (one label per image of ${imgPath})`);
  checkLabels(lab.data, FASHION_MNIST_CLASSES.length, labPath, { first: lab.dataOffset, stride: 1, what: 'label' });
  const n = Math.min(img.shape[0]!, limit ?? Infinity);
  const px = 28 * 28;
  const images = new Float32Array(n * px);
  for (let i = 0; i < n * px; i++) images[i] = img.data[i]! / 255;
  return { images, labels: Int32Array.from(lab.data.subarray(0, n)), n, shape: [1, 28, 28] };
}
