/**
 * Seeded permutations for the data order, from Philox4x32-10 on the CPU (engine/ref/philox.ts) used as a
 * counter-based generator: permutation (seed, stream, index) is a pure function, so the loader resumes at any
 * epoch without replaying the earlier ones, and a split is the same on every machine.
 *
 * Block t of (stream, index) is philox4x32([t, index, stream, 1], seed). The GPU generator's counters
 * (kernels/philox.wgsl) have words 2 and 3 zero, so a data seed equal to a model seed draws unrelated numbers.
 */
import { mulhilo32, philox4x32, type Key2 } from '../../engine/ref/philox.js';

/** The independent uses of a seed. */
export const STREAMS = { epochOrder: 1, split: 2 } as const;
export type Stream = keyof typeof STREAMS;

const TWO32 = 2 ** 32;

export function checkSeed(what: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${what}: seed must be a non-negative safe integer, got ${String(seed)}`);
  return seed;
}

/**
 * 0..n-1 in the random order of (seed, stream, index): Fisher-Yates, position i swapped with
 * floor(word * (i + 1) / 2^32) (bias below (i + 1) / 2^32: under 2e-5 for 60000 examples).
 */
export function permutation(n: number, seed: number, stream: Stream, index: number): Int32Array {
  checkSeed('permutation', seed);
  if (!Number.isInteger(index) || index < 0 || index >= TWO32) throw new RangeError(`permutation: index must be an integer in [0, 2^32), got ${index}`);
  const key: Key2 = [seed % TWO32, Math.floor(seed / TWO32)];
  const p = Int32Array.from({ length: n }, (_, i) => i);
  let block: number[] = [];
  let t = 0;
  for (let i = n - 1, used = 4; i > 0; i--, used++) {
    if (used === 4) { block = philox4x32([t++, index, STREAMS[stream], 1], key); used = 0; }
    const j = mulhilo32(block[used]!, i + 1)[0];
    const tmp = p[i]!;
    p[i] = p[j]!;
    p[j] = tmp;
  }
  return p;
}
