/**
 * Datasets by name (the CLI's `--dataset`): each says its image shape and class count and loads a split
 * as an ImageSet. `dir` is where the files are (`--data DIR`); without it a dataset uses its default place
 * or refuses, naming what it needs.
 */
import { checkImageSet, checkPositiveInt, type ImageSet } from './image_set.js';
import { fashionMnistDir, loadFashionMnist } from './fashion_mnist.js';
import { syntheticImageSet } from './synthetic.js';
import { loadCifar10, loadCifar100 } from './cifar.js';

export type DataSplit = 'train' | 'test';

export interface DatasetLoadOptions {
  /** The dataset's directory (default: the dataset's own, where it has one). */
  dir?: string;
  /** Keep the first `limit` examples of the split. */
  limit?: number;
}

export interface DatasetSpec {
  shape: [number, number, number];
  classes: number;
  load(split: DataSplit, o: DatasetLoadOptions): ImageSet;
}

/** The synthetic set's sizes: small enough to build in a second. */
export const SYNTHETIC_SIZES: Record<DataSplit, number> = { train: 5000, test: 1000 };

export const DATASETS: Record<string, DatasetSpec> = {
  'fashion-mnist': { shape: [1, 28, 28], classes: 10, load: (split, o) => loadFashionMnist(split, o.limit, o.dir ?? fashionMnistDir()) },
  // A user's copy (no data set ships with the project): --data DIR, or ROBUSTGPU_CIFAR10 / ROBUSTGPU_CIFAR100.
  cifar10: { shape: [3, 32, 32], classes: 10, load: (split, o) => loadCifar10(split, { dir: o.dir, limit: o.limit }) },
  cifar100: { shape: [3, 32, 32], classes: 100, load: (split, o) => loadCifar100(split, { dir: o.dir, limit: o.limit }) },
  synthetic: {
    shape: [3, 32, 32], classes: 10,
    load: (split, o) => syntheticImageSet({ n: Math.min(SYNTHETIC_SIZES[split], o.limit ?? Infinity), shape: [3, 32, 32], classes: 10, seed: 0, split }),
  },
};

/** The `dir` of a dataset that has no default place (a user's copy), or an error saying how to give it. */
export function requireDir(name: string, dir: string | undefined): string {
  if (!dir) throw new Error(`${name}: no data directory given: pass --data DIR (the folder holding its files)`);
  return dir;
}

export function datasetSpec(name: string): DatasetSpec {
  const spec = Object.hasOwn(DATASETS, name) ? DATASETS[name] : undefined;
  if (!spec) throw new RangeError(`unknown dataset '${name}'; known: ${Object.keys(DATASETS).join(', ')}`);
  return spec;
}

/** Loads one split of a dataset by name and checks it against the dataset's shape and classes. */
export function loadDataset(name: string, split: DataSplit, o: DatasetLoadOptions = {}): ImageSet {
  const spec = datasetSpec(name);
  if (split !== 'train' && split !== 'test') throw new RangeError(`loadDataset: split must be 'train' or 'test', got '${String(split)}'`);
  if (o.limit !== undefined) checkPositiveInt('loadDataset: limit', o.limit);
  const set = spec.load(split, o);
  if (set.shape.some((d, i) => d !== spec.shape[i])) throw new Error(`${name} ${split}: images are [${set.shape}], expected [${spec.shape}]`);
  checkImageSet(set, `${name} ${split}`, spec.classes);
  return set;
}
