/**
 * Fashion-MNIST from Debian's `dataset-fashion-mnist` package (or ROBUSTGPU_FASHION_MNIST): 28x28 grey
 * images scaled to [0, 1] (attacks work in this pixel space) and labels 0-9.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx } from './idx.js';
import { checkLabels, DataFileError } from './data_file.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface ImageSet {
  /** [n, C, H, W] row-major (Fashion-MNIST [n, 1, 28, 28], CIFAR [n, 3, 32, 32]), values in [0, 1]. */
  images: Float32Array;
  /** Class indices, checked against the number of classes when loaded. */
  labels: Int32Array;
  n: number;
  shape: [number, number, number];
}

export function fashionMnistDir(): string {
  return process.env.ROBUSTGPU_FASHION_MNIST ?? FASHION_MNIST_DIR;
}

/** Loads the train or test split; `limit` keeps the first n examples. */
export function loadFashionMnist(split: 'train' | 'test', limit?: number, dir = fashionMnistDir()): ImageSet {
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgPath = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  if (!existsSync(imgPath)) {
    throw new DataFileError(`Fashion-MNIST not found at ${imgPath}: install it with \`apt-get install dataset-fashion-mnist\` (npm run setup does), or set ROBUSTGPU_FASHION_MNIST to its folder`);
  }
  const labPath = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
  const img = readIdx(imgPath);
  const lab = readIdx(labPath);
  if (img.shape.length !== 3) throw new DataFileError(`${imgPath}: expected images [n, height, width], got [${img.shape.join(', ')}]`);
  if (lab.shape.length !== 1 || img.shape[0] !== lab.shape[0]) {
    throw new DataFileError(`${labPath}: labels [${lab.shape.join(', ')}] do not match the images [${img.shape.join(', ')}] of ${imgPath}`);
  }
  checkLabels(lab.data, FASHION_MNIST_CLASSES.length, labPath, { first: 8, stride: 1, what: 'label' });
  const n = Math.min(img.shape[0]!, limit ?? Infinity);
  const px = img.shape[1]! * img.shape[2]!;
  const images = new Float32Array(n * px);
  for (let i = 0; i < n * px; i++) images[i] = img.data[i]! / 255;
  return { images, labels: Int32Array.from(lab.data.subarray(0, n)), n, shape: [1, img.shape[1]!, img.shape[2]!] };
}
