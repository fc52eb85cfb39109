/**
 * Data augmentation on the GPU: per-example random crop with zero padding (CIFAR's standard: pad 4, crop the
 * image size) and random horizontal flip, in one dispatch over the batch (kernels/augment.wgsl).
 *
 * Each example's draws are one integer, uniform over every (dy, dx, flip) combination, drawn by the engine's
 * Philox kernel from the Generator given: no CPU work or upload per batch, and the augmentation of a
 * resumed run is reproduced by the generator state its checkpoint saved. Not differentiable (preprocessing):
 * an input that requires grad is refused rather than silently cut from the graph.
 */
import { empty } from '../../engine/create.js';
import { randint, type Generator } from '../../engine/rng.js';
import { scope } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Device } from '../../engine/device.js';
import { runAugment } from '../../kernels/augment.js';

export interface AugmentOptions {
  /** Zero padding on each side before the crop (0: no crop). */
  padding?: number;
  /** Flip each example left-right with probability 1/2. */
  flip?: boolean;
  generator: Generator;
}

export interface AugmentDraw { dy: number; dx: number; flip: boolean }

function checkPadding(what: string, padding: number): number {
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`${what}: padding must be an integer >= 0, got ${padding}`);
  return padding;
}

/** How many codes one example draws from (every crop offset, times 2 with flips). */
export function augmentCodeRange(padding: number, flip: boolean): number {
  const span = 2 * checkPadding('augment', padding) + 1;
  return span * span * (flip ? 2 : 1);
}

/** The crop offsets (into the padded image) and flip of one code. */
export function decodeAugment(code: number, padding: number): AugmentDraw {
  const span = 2 * padding + 1;
  return { dy: code % span, dx: Math.floor(code / span) % span, flip: Math.floor(code / (span * span)) === 1 };
}

function checkInput(what: string, x: Tensor): [number, number, number, number] {
  x.assertLive(what);
  if (x.rank !== 4 || x.dtype !== 'float32') throw new TypeError(`${what}: expected float32 images [B, C, H, W], got ${x.dtype} [${x.shape}]`);
  if (x.requiresGrad) throw new Error(`${what}: tensor #${x.id} requires grad, but augmentation is not differentiable (augment the data before the model sees it)`);
  return x.shape as unknown as [number, number, number, number];
}

/** One code per example of a batch of `batch`: int32 [batch]. */
export function drawAugment(batch: number, o: AugmentOptions, device?: Device): Tensor {
  if (!o.generator) throw new TypeError('augment: a generator is required (an explicit Generator keeps resumed runs reproducible)');
  return randint(0, augmentCodeRange(o.padding ?? 0, o.flip ?? false), [batch], { generator: o.generator, device });
}

/** Crops and flips `x` [B, C, H, W] as `codes` [B] (int32, from drawAugment) say. */
export function augmentWith(x: Tensor, codes: Tensor, padding: number): Tensor {
  const shape = checkInput('augmentWith', x);
  checkPadding('augmentWith', padding);
  if (codes.dtype !== 'int32' || codes.rank !== 1 || codes.shape[0] !== shape[0]) {
    throw new TypeError(`augmentWith: codes must be int32 [${shape[0]}], got ${codes.dtype} [${codes.shape}]`);
  }
  const y = empty(x.device, x.shape);
  runAugment(x.device, { x: x.storage.binding(), code: codes.storage.binding(), y: y.storage.binding() }, shape, padding);
  return y;
}

/** A randomly cropped (zero padding `padding`) and flipped copy of the batch `x` [B, C, H, W]. */
export function augment(x: Tensor, o: AugmentOptions): Tensor {
  const [B] = checkInput('augment', x);
  return scope(() => augmentWith(x, drawAugment(B, o, x.device), o.padding ?? 0));
}

/** The CPU reference of augmentWith on one batch (for tests): the same pixels moved by the same codes. */
export function augmentCpu(x: Float32Array, shape: readonly [number, number, number, number], codes: ArrayLike<number>, padding: number): Float32Array {
  const [B, C, H, W] = shape;
  const y = new Float32Array(B * C * H * W);
  for (let b = 0; b < B; b++) {
    const { dy, dx, flip } = decodeAugment(codes[b]!, padding);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const si = i + dy - padding;
          const sj = (flip ? W - 1 - j : j) + dx - padding;
          if (si >= 0 && si < H && sj >= 0 && sj < W) y[((b * C + c) * H + i) * W + j] = x[((b * C + c) * H + si) * W + sj]!;
        }
      }
    }
  }
  return y;
}
