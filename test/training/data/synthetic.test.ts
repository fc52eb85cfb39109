import { describe, expect, it } from 'vitest';
import { syntheticImageSet } from '../../../training/data/synthetic.js';

describe('synthetic image set', () => {
  it('is deterministic, in [0, 1], with balanced classes of the shape asked for', () => {
    const a = syntheticImageSet({ n: 50, shape: [2, 5, 7], classes: 5, seed: 1 });
    const b = syntheticImageSet({ n: 50, shape: [2, 5, 7], classes: 5, seed: 1 });
    expect(a.shape).toEqual([2, 5, 7]);
    expect(a.images.length).toBe(50 * 70);
    expect([...a.images]).toEqual([...b.images]);
    expect([...a.labels]).toEqual([...b.labels]);
    expect(Math.min(...a.images)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.images)).toBeLessThanOrEqual(1);
    for (let k = 0; k < 5; k++) expect(a.labels.filter((l) => l === k).length).toBe(10);
  });

  it('changes its images with the seed and the split, and keeps each class\'s pattern across splits', () => {
    const opts = { n: 400, shape: [1, 8, 8] as [number, number, number], classes: 4, noise: 0 };
    const train = syntheticImageSet({ ...opts, seed: 3 });
    const test = syntheticImageSet({ ...opts, seed: 3, split: 'test' });
    const other = syntheticImageSet({ ...opts, seed: 4 });
    expect([...test.images]).not.toEqual([...train.images]);
    expect([...other.images]).not.toEqual([...train.images]);
    // Without noise, an image's mean over a random phase estimates its class's brightness: the class means agree
    // between the splits (same patterns) and differ between seeds.
    const classMeans = (s: typeof train): number[] => [0, 1, 2, 3].map((k) => {
      let sum = 0;
      let count = 0;
      for (let i = 0; i < s.n; i++) if (s.labels[i] === k) { for (let j = 0; j < 64; j++) sum += s.images[i * 64 + j]!; count += 64; }
      return sum / count;
    });
    const [mt, ms, mo] = [classMeans(train), classMeans(test), classMeans(other)];
    for (let k = 0; k < 4; k++) expect(Math.abs(mt[k]! - ms[k]!), `class ${k}`).toBeLessThan(0.02);
    expect(mt.some((m, k) => Math.abs(m - mo[k]!) > 0.05)).toBe(true);
  });

  it('validates its options by name', () => {
    expect(() => syntheticImageSet({ n: 0, seed: 0 })).toThrow(/syntheticImageSet: n: expected a positive integer, got 0/);
    expect(() => syntheticImageSet({ n: 4, shape: [3, 0, 4], seed: 0 })).toThrow(/shape\[1\]: expected a positive integer, got 0/);
    expect(() => syntheticImageSet({ n: 4, classes: 1, seed: 0 })).toThrow(/classes must be an integer >= 2, got 1/);
    expect(() => syntheticImageSet({ n: 4, seed: 0.5 })).toThrow(/seed must be a non-negative safe integer, got 0.5/);
  });
});
