/**
 * Seeded, counter-based random numbers on the GPU (Philox4x32-10). A Generator is a key (the seed) and a
 * counter offset; each call consumes ceil(n/4) counter blocks, so a run is reproducible from the seed and
 * the order of calls alone, whatever the device or the batching of submissions.
 */
import { getDefaultDevice, type Device } from './device.js';
import { empty } from './create.js';
import { checkShape, type Shape } from './shape.js';
import type { Tensor } from './tensor.js';
import { philoxBlocks, runPhilox, type Distribution } from '../kernels/philox.js';

const TWO32 = 2 ** 32;

export interface GeneratorState { seed: number; offset: number }

/** What makes `s` no generator state (seed and offset non-negative safe integers), or null if it is one. */
export function generatorStateProblem(s: unknown): string | null {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return `expected {seed, offset}, got ${JSON.stringify(s)}`;
  const { seed, offset, ...rest } = s as Record<string, unknown>;
  for (const [k, v] of [['seed', seed], ['offset', offset]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return `${k} must be a non-negative safe integer, got ${JSON.stringify(v)}`;
  }
  const extra = Object.keys(rest);
  return extra.length ? `unknown field '${extra[0]}' (a generator state is {seed, offset})` : null;
}

export class Generator {
  private seed = 0;
  private offset = 0;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`manualSeed: seed must be a non-negative safe integer, got ${seed}`);
    this.seed = seed;
    this.offset = 0;
    return this;
  }

  getState(): GeneratorState {
    return { seed: this.seed, offset: this.offset };
  }

  setState(s: GeneratorState): this {
    const problem = generatorStateProblem(s);
    if (problem) throw new RangeError(`Generator.setState: ${problem}`);
    this.manualSeed(s.seed);
    this.offset = s.offset;
    return this;
  }

  /** Key and counter for a call producing n values; advances the counter past them. */
  take(n: number): { key: [number, number]; offset: [number, number] } {
    const o = this.offset;
    this.offset += philoxBlocks(n);
    return { key: [this.seed % TWO32, Math.floor(this.seed / TWO32)], offset: [o % TWO32, Math.floor(o / TWO32)] };
  }
}

/** The generator used when none is passed. */
export const defaultGenerator = new Generator(0);

export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}

export interface RandomOptions { device?: Device; generator?: Generator }

function draw(shape: Shape, dist: Distribution, opts: RandomOptions, extra: { low?: number; high?: number; ilow?: number; range?: number }, what: string): Tensor {
  checkShape(shape, `${what}: shape`);
  const device = opts.device ?? getDefaultDevice();
  const t = empty(device, shape, dist === 'randint' ? 'int32' : 'float32', what);
  const g = opts.generator ?? defaultGenerator;
  runPhilox(device, t.storage.binding(), { n: t.size, dist, ...g.take(t.size), ...extra });
  return t;
}

/** Uniform in [low, high). */
export function rand(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  if (!((opts.low ?? 0) < (opts.high ?? 1))) throw new RangeError(`rand: need low < high, got low=${opts.low ?? 0}, high=${opts.high ?? 1}`);
  return draw(shape, 'uniform', opts, { low: opts.low ?? 0, high: opts.high ?? 1 }, 'rand');
}

/** Normal(mean, std). */
export function randn(shape: Shape, opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  return draw(shape, 'normal', opts, { low: opts.mean ?? 0, high: opts.std ?? 1 }, 'randn');
}

/** Integers uniform in [low, high), int32. */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low || high - low > TWO32 - 1 || low < -(2 ** 31) || high > 2 ** 31) {
    throw new RangeError(`randint: need integers low < high within int32, got low=${low}, high=${high}`);
  }
  return draw(shape, 'randint', opts, { ilow: low, range: high - low }, 'randint');
}
