import { describe, expect, it } from 'vitest';
import type { ImageSet } from '../../../training/data/image_set.js';
import { firstExamples, makeSplits, splitHeldOut } from '../../../training/data/splits.js';

/** n one-pixel images whose value is their index, with the labels given. */
function setOf(labels: number[]): ImageSet {
  return { images: Float32Array.from(labels, (_, i) => i), labels: Int32Array.from(labels), n: labels.length, shape: [1, 1, 1] };
}

const perClass = (set: ImageSet, idx: Int32Array): Map<number, number> => {
  const m = new Map<number, number>();
  for (const i of idx) m.set(set.labels[i]!, (m.get(set.labels[i]!) ?? 0) + 1);
  return m;
};

describe('splits', () => {
  // 1000 examples, class k has 10 + 20k of them (10, 30, ..., 190), interleaved by a fixed bijection.
  const labels = Array.from({ length: 10 }, (_, k) => new Array<number>(10 + 20 * k).fill(k)).flat();
  const set = setOf(labels.map((_, i) => labels[(i * 7919) % labels.length]!));

  it('holds out a disjoint, stratified, reproducible part of the training set', () => {
    const a = splitHeldOut(set, { heldOut: 0.1, seed: 1 });
    expect(a.heldOut.indices.length).toBe(100);
    expect(a.train.indices.length).toBe(900);
    const all = new Set([...a.heldOut.indices, ...a.train.indices]);
    expect(all.size).toBe(1000);
    // Class k gives a tenth of its 10 + 20k examples: 1, 3, ..., 19 (exact here, so no rounding).
    for (let k = 0; k < 10; k++) expect(perClass(set, a.heldOut.indices).get(k), `class ${k}`).toBe(1 + 2 * k);
    const b = splitHeldOut(set, { heldOut: 0.1, seed: 1 });
    expect([...b.heldOut.indices]).toEqual([...a.heldOut.indices]);
    expect([...splitHeldOut(set, { heldOut: 0.1, seed: 2 }).heldOut.indices]).not.toEqual([...a.heldOut.indices]);
  });

  it('rounds class shares by largest remainder to the exact total, and takes counts for both parts', () => {
    const s = splitHeldOut(set, { heldOut: 37, train: 205, seed: 3 });
    expect(s.heldOut.indices.length).toBe(37);
    expect(s.train.indices.length).toBe(205);
    expect(new Set([...s.heldOut.indices, ...s.train.indices]).size).toBe(242);
    // Class k's exact share is 37 (10 + 20k) / 1000; each class gets its floor or its ceiling.
    for (let k = 0; k < 10; k++) {
      const got = perClass(set, s.heldOut.indices).get(k) ?? 0;
      const exact = (37 * (10 + 20 * k)) / 1000;
      expect(got === Math.floor(exact) || got === Math.ceil(exact), `class ${k}: ${got} for ${exact}`).toBe(true);
    }
  });

  it('splits a subset into subsets of the same underlying set, and splits at random when not stratified', () => {
    const first = splitHeldOut(set, { heldOut: 500, seed: 4 });
    const second = splitHeldOut(first.train, { heldOut: 100, seed: 4, stratified: false });
    expect(second.heldOut.set).toBe(set);
    const pool = new Set(first.train.indices);
    for (const i of [...second.heldOut.indices, ...second.train.indices]) expect(pool.has(i)).toBe(true);
    expect(second.heldOut.indices.length + second.train.indices.length).toBe(500);
    expect(new Set([...second.heldOut.indices, ...second.train.indices]).size).toBe(500);
  });

  it('takes the test set in file order, and refuses sizes larger than the data with both numbers', () => {
    const test = setOf([0, 1, 2, 3, 4]);
    const s = makeSplits(set, test, { heldOut: 0, seed: 0, test: 3 });
    expect([...s.test.indices]).toEqual([0, 1, 2]);
    expect(s.heldOut.indices.length).toBe(0);
    expect(s.train.indices.length).toBe(1000);
    expect(() => splitHeldOut(set, { heldOut: 1001, seed: 0 })).toThrow(/splitHeldOut: heldOut: 1001 examples requested, but the training set has only 1000/);
    expect(() => splitHeldOut(set, { heldOut: 600, train: 500, seed: 0 })).toThrow(/600 held-out \+ 500 training examples = 1100, but the training set has only 1000/);
    expect(() => splitHeldOut(set, { heldOut: 1.5, seed: 0 })).toThrow(/heldOut: expected a count \(an integer >= 0\) or a fraction in \(0, 1\), got 1.5/);
    expect(() => makeSplits(set, test, { heldOut: 0, seed: 0, test: 6 })).toThrow(/makeSplits: test: 6 examples requested, but the set has only 5/);
    expect(() => firstExamples(test, -2)).toThrow(/got -2/);
  });
});
