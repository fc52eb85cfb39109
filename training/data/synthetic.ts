/**
 * A synthetic, learnable image set for tests and benchmarks: each class is a sine grating with its own
 * orientation, frequency and per-channel brightness and contrast; each image shifts its class's grating by a
 * random phase (so the class is a texture, not a position, and survives crops and flips) and adds Gaussian
 * noise, clamped to [0, 1]. The class patterns depend on `seed` only, the images on `seed` and `split`, so the
 * train and test splits share their classes. Deterministic (a CPU generator, no GPU).
 */
import { CpuRandom } from '../../engine/ref/random.js';
import { checkPositiveInt, type ImageSet } from './image_set.js';
import { checkSeed } from './shuffle.js';

export interface SyntheticOptions {
  n: number;
  /** [C, H, W] of one image (default [3, 32, 32], CIFAR's). */
  shape?: [number, number, number];
  classes?: number;
  seed: number;
  split?: 'train' | 'test';
  /** Standard deviation of the pixel noise (default 0.1). */
  noise?: number;
}

interface ClassPattern { cos: number; sin: number; freq: number; base: number[]; amp: number[] }

/** A 32-bit seed for CpuRandom from a safe-integer seed and a tag (both halves of the seed count). */
function mix(seed: number, tag: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return (Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) + tag) >>> 0;
}

export function syntheticImageSet(o: SyntheticOptions): ImageSet {
  const n = checkPositiveInt('syntheticImageSet: n', o.n);
  const [C, H, W] = o.shape ?? [3, 32, 32];
  for (const [i, d] of [C, H, W].entries()) checkPositiveInt(`syntheticImageSet: shape[${i}]`, d);
  const K = o.classes ?? 10;
  if (!Number.isInteger(K) || K < 2) throw new RangeError(`syntheticImageSet: classes must be an integer >= 2, got ${K}`);
  const noise = o.noise ?? 0.1;
  if (!(noise >= 0 && Number.isFinite(noise))) throw new RangeError(`syntheticImageSet: noise must be a finite number >= 0, got ${noise}`);
  const seed = checkSeed('syntheticImageSet', o.seed);

  const pr = new CpuRandom(mix(seed, 0));
  const patterns: ClassPattern[] = Array.from({ length: K }, (_, k) => {
    // Orientations spread over a half turn, so no two classes share one.
    const angle = Math.PI * (k + pr.uniform(0.1, 0.9)) / K;
    return {
      cos: Math.cos(angle), sin: Math.sin(angle), freq: pr.uniform(1.5, 4),
      base: Array.from({ length: C }, () => pr.uniform(0.3, 0.7)), amp: Array.from({ length: C }, () => pr.uniform(0.15, 0.3)),
    };
  });

  const r = new CpuRandom(mix(seed, o.split === 'test' ? 2 : 1));
  // Balanced classes in a random order.
  const labels = Int32Array.from(r.permutation(n), (i) => i % K);
  const px = C * H * W;
  const images = new Float32Array(n * px);
  for (let i = 0; i < n; i++) {
    const p = patterns[labels[i]!]!;
    const phase = r.uniform(0, 2 * Math.PI);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const t = (2 * Math.PI * p.freq * (x * p.cos + y * p.sin)) / Math.max(H, W) + phase;
          const v = p.base[c]! + p.amp[c]! * Math.sin(t) + noise * r.normal();
          images[i * px + (c * H + y) * W + x] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return { images, labels, n, shape: [C, H, W] };
}
