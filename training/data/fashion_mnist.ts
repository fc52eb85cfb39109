/**
 * Fashion-MNIST from Debian's `dataset-fashion-mnist` package (or ROBUSTGPU_FASHION_MNIST): 28x28 grey
 * images scaled to [0, 1] (attacks work in this pixel space) and labels 0-9.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx } from './idx.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface ImageSet {
  /** [n, 1, 28, 28] row-major, values in [0, 1]. */
  images: Float32Array;
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
    throw new Error(`Fashion-MNIST not found at ${imgPath}: install it with \`apt-get install dataset-fashion-mnist\` (npm run setup does), or set ROBUSTGPU_FASHION_MNIST to its folder`);
  }
  const img = readIdx(imgPath);
  const lab = readIdx(join(dir, `${prefix}-labels-idx1-ubyte.gz`));
  if (img.shape.length !== 3 || lab.shape.length !== 1 || img.shape[0] !== lab.shape[0]) {
    throw new Error(`Fashion-MNIST ${split}: images [${img.shape}] and labels [${lab.shape}] do not match`);
  }
  const n = Math.min(img.shape[0]!, limit ?? Infinity);
  const px = img.shape[1]! * img.shape[2]!;
  const images = new Float32Array(n * px);
  for (let i = 0; i < n * px; i++) images[i] = img.data[i]! / 255;
  return { images, labels: Int32Array.from(lab.data.subarray(0, n)), n, shape: [1, img.shape[1]!, img.shape[2]!] };
}
