/**
 * Train / held-out / test splits. The held-out set is carved from the training set, stratified by class by
 * default (each class gives its share, rounded by largest remainder so that the total is exact), at random
 * within each class from `seed`; the same seed and sizes give the same split on every machine. The test set
 * is the dataset's own test split, or its first `test` examples (file order, as evaluations usually report).
 * Nothing is copied: the splits are Subsets of the sets given.
 */
import { countOf, resolveExamples, type Examples, type ImageSet, type Subset } from './image_set.js';
import { checkSeed, permutation } from './shuffle.js';

export interface HeldOutOptions {
  /** Examples held out: a count (an integer >= 0) or a fraction of the training set (0 < f < 1). */
  heldOut: number;
  /** Training examples kept from the rest (count or fraction of the training set; default: all the rest). */
  train?: number;
  seed: number;
  /** Keep each class's share in both parts (default true); false: a plain random split. */
  stratified?: boolean;
}

export interface SplitOptions extends HeldOutOptions {
  /** Test examples (count or fraction; default all), the first ones of the test split. */
  test?: number;
}

export interface Splits { train: Subset; heldOut: Subset; test: Subset }

/** A count from a count or fraction of `total`, refused when it is neither or exceeds `total`. */
export function resolveSize(what: string, value: number, total: number, of: string): number {
  let count: number;
  if (Number.isInteger(value) && value >= 0) count = value;
  else if (value > 0 && value < 1) count = Math.round(value * total);
  else throw new RangeError(`${what}: expected a count (an integer >= 0) or a fraction in (0, 1), got ${value}`);
  if (count > total) throw new RangeError(`${what}: ${count} examples requested, but ${of} has only ${total}`);
  return count;
}

/** Splits `quota` among groups of sizes `sizes` in proportion, by largest remainder (ties: the first group). */
function apportion(quota: number, sizes: number[]): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total === 0) return sizes.map(() => 0);
  const exact = sizes.map((s) => (quota * s) / total);
  const out = exact.map(Math.floor);
  let left = quota - out.reduce((a, b) => a + b, 0);
  const order = exact.map((e, k) => [e - Math.floor(e), k] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, k] of order) {
    if (left === 0) break;
    out[k]!++;
    left--;
  }
  return out;
}

const sorted = (v: number[]): Int32Array => Int32Array.from(v).sort();

/** Held-out and training subsets of `examples` (each in ascending index order; the loader shuffles). */
export function splitHeldOut(examples: Examples, o: HeldOutOptions): { train: Subset; heldOut: Subset } {
  const { set, indices } = resolveExamples(examples);
  const seed = checkSeed('splitHeldOut', o.seed);
  const N = indices.length;
  const h = resolveSize('splitHeldOut: heldOut', o.heldOut, N, 'the training set');
  const t = o.train === undefined ? N - h : resolveSize('splitHeldOut: train', o.train, N, 'the training set');
  if (h + t > N) throw new RangeError(`splitHeldOut: ${h} held-out + ${t} training examples = ${h + t}, but the training set has only ${N}`);
  let groups: number[][];
  if (o.stratified ?? true) {
    const byClass = new Map<number, number[]>();
    for (const i of indices) {
      const l = set.labels[i]!;
      let g = byClass.get(l);
      if (!g) byClass.set(l, (g = []));
      g.push(i);
    }
    groups = [...byClass.keys()].sort((a, b) => a - b).map((l) => {
      const g = byClass.get(l)!;
      return Array.from(permutation(g.length, seed, 'split', 1 + l), (j) => g[j]!);
    });
  } else {
    groups = [Array.from(permutation(N, seed, 'split', 0), (j) => indices[j]!)];
  }
  const hk = apportion(h, groups.map((g) => g.length));
  const tk = apportion(t, groups.map((g, k) => g.length - hk[k]!));
  return {
    heldOut: { set, indices: sorted(groups.flatMap((g, k) => g.slice(0, hk[k]!))) },
    train: { set, indices: sorted(groups.flatMap((g, k) => g.slice(hk[k]!, hk[k]! + tk[k]!))) },
  };
}

/** The first `count` examples (count or fraction), in order. */
export function firstExamples(examples: Examples, count: number, what = 'firstExamples'): Subset {
  const { set, indices } = resolveExamples(examples);
  return { set, indices: indices.slice(0, resolveSize(what, count, countOf(examples), 'the set')) };
}

export function makeSplits(trainSet: Examples, testSet: ImageSet | Subset, o: SplitOptions): Splits {
  const { train, heldOut } = splitHeldOut(trainSet, o);
  return { train, heldOut, test: firstExamples(testSet, o.test ?? countOf(testSet), 'makeSplits: test') };
}
