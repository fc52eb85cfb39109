import { describe, expect, it } from 'vitest';
import { DATASETS, datasetSpec, loadDataset, requireDir } from '../../../training/data/datasets.js';

describe('datasets by name', () => {
  it('loads Fashion-MNIST and the synthetic set with the shape and classes their entries state', () => {
    const f = loadDataset('fashion-mnist', 'test', { limit: 20 });
    expect(f.shape).toEqual(datasetSpec('fashion-mnist').shape);
    expect(f.n).toBe(20);
    const s = loadDataset('synthetic', 'train', { limit: 30 });
    expect(s.shape).toEqual([3, 32, 32]);
    expect(s.n).toBe(30);
    expect(Math.max(...s.labels)).toBeLessThan(datasetSpec('synthetic').classes);
  });

  it('names the known datasets for an unknown name, and checks what a loader returns', () => {
    expect(() => loadDataset('mnist', 'train')).toThrow(/unknown dataset 'mnist'; known: fashion-mnist, cifar10, cifar100, synthetic/);
    expect(() => loadDataset('constructor', 'train')).toThrow(/unknown dataset 'constructor'/);
    expect(() => loadDataset('synthetic', 'val' as never)).toThrow(/split must be 'train' or 'test', got 'val'/);
    expect(() => loadDataset('synthetic', 'train', { limit: 0 })).toThrow(/loadDataset: limit: expected a positive integer, got 0/);
    expect(() => loadDataset('fashion-mnist', 'train', { dir: '/nonexistent' })).toThrow(/\/nonexistent lacks train-images-idx3-ubyte.gz/);
    expect(() => requireDir('cifar10', undefined)).toThrow(/cifar10: no data directory given: pass --data DIR/);
    expect(requireDir('cifar10', '/data/cifar')).toBe('/data/cifar');
    DATASETS['broken'] = { shape: [1, 2, 2], classes: 2, load: () => ({ images: new Float32Array(8), labels: Int32Array.of(0, 2), n: 2, shape: [1, 2, 2] }) };
    try {
      expect(() => loadDataset('broken', 'test')).toThrow(/broken test: label 2 of example 1 is outside \[0, 2\)/);
    } finally {
      delete DATASETS['broken'];
    }
  });
});
