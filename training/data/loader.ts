/**
 * Batches of an ImageSet (or a Subset of one) for training and evaluation.
 *
 * Order: epoch e visits the examples in permutation (seed, e) (training/data/shuffle.ts, counter-based), or in
 * their order without shuffling. The loader's whole state is (epoch, position in the epoch, seed): a run that
 * checkpoints `state()` and restores it with `fromState` gets exactly the next batches it would have had,
 * without replaying earlier epochs. `next()` cycles through epochs, for runs longer than one.
 *
 * Last batch: with `dropLast` (the default, for training) an epoch ends before a partial batch (those examples
 * come first in another epoch's order); without it the last batch is smaller. A batch is never padded.
 *
 * Prefetch: after handing out batch k the loader schedules the gather and upload of batch k + 1 (a
 * setImmediate), which runs while the caller awaits the GPU (a loss readback); if the caller asks first it is
 * prepared at once. Uploads are queued writeBuffers into fresh buffers, so none waits on the GPU.
 * Augmentation is applied when a batch is handed out, not when it is prefetched, so that its generator's
 * state at a checkpoint matches the loader's position.
 */
import { getDefaultDevice, type Device } from '../../engine/device.js';
import { tensor } from '../../engine/create.js';
import { keep } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Batch } from '../steps.js';
import { augment, type AugmentOptions } from './augment.js';
import { checkPositiveInt, pixelsOf, resolveExamples, type Examples, type ImageSet } from './image_set.js';
import { checkSeed, permutation } from './shuffle.js';

export interface LoaderOptions {
  batchSize: number;
  /** A new order every epoch (default true); needs `seed`. */
  shuffle?: boolean;
  seed?: number;
  /** End each epoch before a partial batch (default true). */
  dropLast?: boolean;
  /** Prepare batch k + 1 while batch k is used (default true). */
  prefetch?: boolean;
  /** Random crop / flip on the GPU when a batch is handed out. */
  augment?: AugmentOptions;
  /** Serve this many epochs, then refuse (default: cycle for ever); nothing is prefetched past the end. */
  epochs?: number;
  device?: Device;
}

/** Where a loader is: the next batch starts at example `position` of epoch `epoch`'s order. */
export interface LoaderState { epoch: number; position: number; seed: number; /** Examples per epoch (checked on restore). */ size: number }

export interface LoadedBatch extends Batch {
  /** Which examples of the underlying set, in batch order. */
  indices: Int32Array;
  /** The labels on the CPU (y holds them on the GPU). */
  labels: Int32Array;
  epoch: number;
  /** The batch's first position in its epoch's order. */
  position: number;
}

interface Prepared { x: Tensor; y: Tensor; indices: Int32Array; labels: Int32Array; epoch: number; position: number }

export class DataLoader {
  readonly batchSize: number;
  readonly size: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  private readonly set: ImageSet;
  private readonly indices: Int32Array;
  private readonly device: Device;
  private readonly prefetchOn: boolean;
  private readonly augmentOptions: AugmentOptions | undefined;
  private readonly epochs: number;
  private seed: number;
  private epochNo = 0;
  private pos = 0;
  private order: { epoch: number; order: Int32Array } | null = null;
  private pending: Prepared | null = null;
  private pendingError: unknown = null;
  private timer: NodeJS.Immediate | null = null;
  private disposed = false;

  constructor(examples: Examples, o: LoaderOptions) {
    const { set, indices } = resolveExamples(examples);
    this.set = set;
    this.indices = indices;
    this.size = indices.length;
    this.batchSize = checkPositiveInt('DataLoader: batchSize', o.batchSize);
    this.shuffle = o.shuffle ?? true;
    this.dropLast = o.dropLast ?? true;
    this.prefetchOn = o.prefetch ?? true;
    this.augmentOptions = o.augment;
    this.epochs = o.epochs === undefined ? Infinity : checkPositiveInt('DataLoader: epochs', o.epochs);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i]!;
      if (!(Number.isInteger(j) && j >= 0 && j < set.n)) throw new RangeError(`DataLoader: example index ${j} at position ${i} of the subset is outside the set's [0, ${set.n})`);
    }
    if (o.augment && !o.augment.generator) throw new TypeError('DataLoader: augment.generator is required (an explicit Generator keeps resumed runs reproducible)');
    if (this.shuffle && o.seed === undefined) throw new TypeError('DataLoader: shuffle needs a seed (an explicit one, so that a resumed run gets the same order)');
    this.seed = o.seed === undefined ? 0 : checkSeed('DataLoader', o.seed);
    if (this.size === 0) throw new RangeError('DataLoader: no examples');
    if (this.dropLast && this.batchSize > this.size) {
      throw new RangeError(`DataLoader: batchSize ${this.batchSize} exceeds the ${this.size} examples, so dropLast leaves no batch (lower batchSize or set dropLast: false)`);
    }
    this.device = o.device ?? getDefaultDevice();
  }

  /** A loader at `state` (from `state()` of one with the same examples and options). */
  static fromState(examples: Examples, o: LoaderOptions, state: LoaderState): DataLoader {
    if (o.seed !== undefined && o.seed !== state.seed) throw new RangeError(`DataLoader.fromState: the options give seed ${o.seed}, the state seed ${state.seed} (leave the seed out to take the state's)`);
    const l = new DataLoader(examples, { ...o, seed: state.seed });
    l.loadState(state);
    return l;
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    return this.dropLast ? Math.floor(this.size / this.batchSize) : Math.ceil(this.size / this.batchSize);
  }

  get epoch(): number { return this.epochNo; }

  state(): LoaderState {
    return { epoch: this.epochNo, position: this.pos, seed: this.seed, size: this.size };
  }

  loadState(s: LoaderState): void {
    if (s.size !== this.size) throw new RangeError(`DataLoader.loadState: the state is for ${s.size} examples per epoch, this loader has ${this.size}`);
    if (!Number.isInteger(s.epoch) || s.epoch < 0) throw new RangeError(`DataLoader.loadState: epoch must be an integer >= 0, got ${s.epoch}`);
    if (!Number.isInteger(s.position) || s.position < 0 || s.position >= this.epochEnd()) {
      throw new RangeError(`DataLoader.loadState: position must be an integer in [0, ${this.epochEnd()}), got ${s.position}`);
    }
    this.seed = checkSeed('DataLoader.loadState', s.seed);
    this.order = null;
    this.epochNo = s.epoch;
    this.pos = s.position;
    this.dropPending();
  }

  /** The next batch, from the next epoch when this one is done. Its tensors belong to the caller's scope. */
  next(): LoadedBatch {
    if (this.disposed) throw new Error('DataLoader.next: the loader has been disposed');
    if (this.epochNo >= this.epochs) throw new RangeError(`DataLoader.next: the ${this.epochs} epoch(s) asked for (epochs option) are done`);
    if (this.pendingError) { const e = this.pendingError; this.pendingError = null; throw e; }
    const p = this.pending ?? this.prepare(this.epochNo, this.pos);
    this.pending = null;
    this.cancelTimer();
    this.pos = p.position + p.indices.length;
    if (this.pos >= this.epochEnd()) { this.epochNo++; this.pos = 0; }
    if (this.prefetchOn && this.epochNo < this.epochs) this.timer = setImmediate(() => this.prefetch());
    // Fresh handles in the caller's scope: the prepared ones were made outside every scope.
    let x = p.x.detach();
    const y = p.y.detach();
    p.x.dispose();
    p.y.dispose();
    if (this.augmentOptions) {
      const raw = x;
      x = augment(raw, this.augmentOptions);
      raw.dispose();
    }
    return { x, y, indices: p.indices, labels: p.labels, epoch: p.epoch, position: p.position };
  }

  /** The remaining batches of the current epoch. */
  *epochBatches(): Generator<LoadedBatch> {
    const e = this.epochNo;
    while (this.epochNo === e) yield this.next();
  }

  /** Frees the prefetched batch; the loader can no longer be used. */
  dispose(): void {
    this.disposed = true;
    this.dropPending();
  }

  /** The position where an epoch ends (before a partial batch with dropLast). */
  private epochEnd(): number {
    return this.dropLast ? this.batchesPerEpoch * this.batchSize : this.size;
  }

  private orderOf(epoch: number): Int32Array {
    if (this.order?.epoch !== epoch) {
      const perm = this.shuffle ? permutation(this.size, this.seed, 'epochOrder', epoch) : null;
      this.order = { epoch, order: perm ? perm.map((j) => this.indices[j]!) : this.indices };
    }
    return this.order.order;
  }

  /** Gathers and uploads the batch at (epoch, position); its tensors are in no scope. */
  private prepare(epoch: number, position: number): Prepared {
    const order = this.orderOf(epoch);
    const indices = order.slice(position, Math.min(position + this.batchSize, this.size));
    const B = indices.length;
    const px = pixelsOf(this.set);
    const images = new Float32Array(B * px);
    const labels = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      const j = indices[i]!;
      images.set(this.set.images.subarray(j * px, (j + 1) * px), i * px);
      labels[i] = this.set.labels[j]!;
    }
    const x = keep(tensor(images, [B, ...this.set.shape], { device: this.device }));
    const y = keep(tensor(labels, [B], { device: this.device }));
    return { x, y, indices, labels, epoch, position };
  }

  private prefetch(): void {
    this.timer = null;
    if (this.disposed || this.pending) return;
    try {
      this.pending = this.prepare(this.epochNo, this.pos);
    } catch (e) {
      // Raised by the next call to next(), not lost in an event callback.
      this.pendingError = e;
    }
  }

  private cancelTimer(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = null;
  }

  private dropPending(): void {
    this.cancelTimer();
    if (this.pending) { this.pending.x.dispose(); this.pending.y.dispose(); }
    this.pending = null;
    this.pendingError = null;
  }
}

/**
 * Every example of `examples` once, in order, the last batch partial (evaluation). Each batch's tensors
 * belong to the scope open when it is produced: dispose them (or run the loop body in a scope).
 */
export function* evalBatches(examples: Examples, o: { batchSize: number; prefetch?: boolean; device?: Device }): Generator<LoadedBatch> {
  const l = new DataLoader(examples, { batchSize: o.batchSize, shuffle: false, dropLast: false, epochs: 1, prefetch: o.prefetch, device: o.device });
  try {
    yield* l.epochBatches();
  } finally {
    l.dispose();
  }
}
