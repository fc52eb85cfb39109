/**
 * What every dataset loader returns (ImageSet) and a selection of its examples by index (Subset), so that
 * splits and loaders never copy the images: a CIFAR training set is 600 MB as float32.
 */

export interface ImageSet {
  /** [n, C, H, W] row-major, values in [0, 1]. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  /** [C, H, W] of one image. */
  shape: [number, number, number];
}

/** Some examples of `set`, in this order (indices into `set`). */
export interface Subset { set: ImageSet; indices: Int32Array }

/** What splits, loaders and evaluation take: a whole set or a subset of one. */
export type Examples = ImageSet | Subset;

export function isSubset(e: Examples): e is Subset {
  return 'indices' in e;
}

/** The underlying set and the example indices, in order. */
export function resolveExamples(e: Examples): Subset {
  return isSubset(e) ? e : { set: e, indices: Int32Array.from({ length: e.n }, (_, i) => i) };
}

export function countOf(e: Examples): number {
  return isSubset(e) ? e.indices.length : e.n;
}

/** Values per image (C * H * W). */
export function pixelsOf(set: ImageSet): number {
  return set.shape[0] * set.shape[1] * set.shape[2];
}

/** Throws unless `value` is a positive integer, naming `what` (the function or option) and the value received. */
export function checkPositiveInt(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${what}: expected a positive integer, got ${typeof value === 'number' ? value : `${typeof value} ${String(value)}`}`);
  }
  return value;
}

/** Throws unless the arrays agree with n and shape and every label is in [0, classes). */
export function checkImageSet(set: ImageSet, what: string, classes?: number): void {
  const px = pixelsOf(set);
  if (set.images.length !== set.n * px) throw new RangeError(`${what}: ${set.images.length} image values for ${set.n} images of [${set.shape}] (expected ${set.n * px})`);
  if (set.labels.length !== set.n) throw new RangeError(`${what}: ${set.labels.length} labels for ${set.n} images`);
  if (classes === undefined) return;
  for (let i = 0; i < set.n; i++) {
    const l = set.labels[i]!;
    if (!(l >= 0 && l < classes)) throw new RangeError(`${what}: label ${l} of example ${i} is outside [0, ${classes})`);
  }
}
