import { describe, expect, it } from 'vitest';
import { permutation } from '../../../training/data/shuffle.js';

const isPermutation = (p: Int32Array, n: number): boolean => p.length === n && [...p].sort((a, b) => a - b).every((v, i) => v === i);

describe('permutation (seed, stream, index)', () => {
  it('is a permutation of 0..n-1, a pure function of its arguments, and differs when any of them does', () => {
    const p = permutation(1000, 5, 'epochOrder', 3);
    expect(isPermutation(p, 1000)).toBe(true);
    expect([...permutation(1000, 5, 'epochOrder', 3)]).toEqual([...p]);
    for (const other of [permutation(1000, 6, 'epochOrder', 3), permutation(1000, 5, 'epochOrder', 4), permutation(1000, 5, 'split', 3), permutation(1000, 2 ** 32 + 5, 'epochOrder', 3)]) {
      expect(isPermutation(other, 1000)).toBe(true);
      expect([...other]).not.toEqual([...p]);
    }
    expect([...permutation(1, 0, 'split', 0)]).toEqual([0]);
    expect([...permutation(0, 0, 'split', 0)]).toEqual([]);
  });

  it('draws each of the 6 orders of 3 items about equally often', () => {
    const counts = new Map<string, number>();
    for (let e = 0; e < 6000; e++) {
      const k = permutation(3, 9, 'epochOrder', e).join('');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    // Binomial(6000, 1/6): sd 29, so +-150 is over 5 sd.
    for (const [k, c] of counts) expect(Math.abs(c - 1000), `order ${k} drawn ${c} times`).toBeLessThan(150);
  });

  it('refuses a bad seed or index', () => {
    expect(() => permutation(3, -1, 'split', 0)).toThrow(/seed must be a non-negative safe integer, got -1/);
    expect(() => permutation(3, 0, 'split', 2 ** 32)).toThrow(/index must be an integer in \[0, 2\^32\), got 4294967296/);
  });
});
