/**
 * The evaluated set of a distributional attack, on the device as labelled batches. A W_2 budget is a
 * property of the whole set (METHODS §4.3, §10.7): the attacks here normalise and project over all N images
 * at once while computing gradients one batch at a time, so they take the set, not a batch.
 */
import * as o from '../../engine/ops/index.js';
import { keep } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmt } from '../../engine/shape.js';

export interface LabelledBatch {
  /** Images in [0, 1], [B, ...]. */
  x: Tensor;
  /** int32 labels [B]. */
  y: Tensor;
}

/** One batch holding the whole set (sliced into `batchSize` pieces), or the batches themselves, in order. */
export type EvalData = LabelledBatch | readonly LabelledBatch[];

export interface EvalSet {
  readonly batches: readonly LabelledBatch[];
  /** Images over all batches. */
  readonly n: number;
  /** Disposes the slices this set made (never the caller's tensors). */
  release(): void;
}

export const DEFAULT_BATCH_SIZE = 256;

function checkBatch(what: string, b: LabelledBatch, i: number): void {
  if (b.x.rank < 2) throw new RangeError(`${what}: batch ${i} x must be [B, ...] with B >= 1 examples, got shape ${fmt(b.x.shape)}`);
  if (b.y.rank !== 1 || b.y.shape[0] !== b.x.shape[0]) throw new RangeError(`${what}: batch ${i} y must have shape [${b.x.shape[0]}], got ${fmt(b.y.shape)}`);
  if (b.y.dtype !== 'int32') throw new TypeError(`${what}: batch ${i} labels must be int32, got ${b.y.dtype}`);
  if (b.x.shape[0] === 0) throw new RangeError(`${what}: batch ${i} is empty`);
}

/**
 * The set as batches of at most `batchSize` images: a single (x, y) larger than that is sliced (copies owned by
 * the set), a list of batches is taken as it is.
 */
export function evalSet(what: string, data: EvalData, batchSize = DEFAULT_BATCH_SIZE): EvalSet {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${what}: batchSize must be an integer >= 1, got ${String(batchSize)}`);
  const given = Array.isArray(data) ? (data as readonly LabelledBatch[]) : [data as LabelledBatch];
  if (given.length === 0) throw new RangeError(`${what}: the evaluated set has no batches`);
  given.forEach((b, i) => checkBatch(what, b, i));
  const tail = given[0]!.x.shape.slice(1).join();
  given.forEach((b, i) => {
    if (b.x.shape.slice(1).join() !== tail) throw new RangeError(`${what}: batch ${i} has images of shape ${fmt(b.x.shape.slice(1))}, batch 0 ${fmt(given[0]!.x.shape.slice(1))}`);
  });
  const n = given.reduce((s, b) => s + b.x.shape[0]!, 0);
  if (Array.isArray(data) || n <= batchSize) return { batches: given, n, release: () => {} };
  const whole = data as LabelledBatch;
  const batches: LabelledBatch[] = [];
  for (let a = 0; a < n; a += batchSize) {
    const e = Math.min(n, a + batchSize);
    batches.push(keep({ x: o.slice(whole.x, 0, a, e), y: o.slice(whole.y, 0, a, e) }));
  }
  return { batches, n, release: () => batches.forEach((b) => { b.x.dispose(); b.y.dispose(); }) };
}

/** Per-batch [B] vectors as one [N] vector (the global reductions read it; nothing is read back). */
export function joinRows(parts: readonly Tensor[]): Tensor {
  return o.concat([...parts], 0);
}
