/**
 * Random numbers: the GPU Philox4x32-10 (kernels/philox.wgsl) against an integer-only JS reference
 * (engine/ref/philox.ts), the reference against Random123's published known answers, the Generator's
 * seed/offset semantics, and generous statistical sanity of the distributions.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { empty } from '../../engine/create.js';
import { Generator, rand, randn, randint } from '../../engine/rng.js';
import { runPhilox, philoxBlocks } from '../../kernels/philox.js';
import { mulhilo32, philox4x32, philoxStream, randintFromWord, type Key2, type Words4 } from '../../engine/ref/philox.js';

const dev = useDevice();

const hex = (w: ArrayLike<number>) => Array.from(w, (x) => (x >>> 0).toString(16).padStart(8, '0')).join(' ');

/** Raw Philox words from the GPU kernel (dist 'bits') written into a uint32 tensor. */
async function gpuBits(key: Key2, offset: Key2, n: number): Promise<Uint32Array> {
  const t = empty(dev(), [n], 'uint32');
  runPhilox(dev(), t.storage.binding(), { n, dist: 'bits', key, offset });
  const out = (await t.read()) as Uint32Array;
  t.dispose();
  return out;
}

/** Counts positions where two arrays agree (independent streams agree almost nowhere). */
function agreements(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let k = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) k++;
  return k;
}

function meanStd(x: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  const mean = s / x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(v / x.length) };
}

describe('JS reference Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors (kat_vectors, philox4x32 10 rounds)', () => {
    // [counter, key, expected] from Random123's kat_vectors; the third uses the digits of pi.
    const kats: [Words4, Key2, string][] = [
      [[0, 0, 0, 0], [0, 0], '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
      [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], '408f276d 41c83b0e a20bc7c6 6d5451fd'],
      [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 'd16cfe09 94fdcceb 5001e420 24126ea1'],
    ];
    for (const [ctr, key, want] of kats) expect(hex(philox4x32(ctr, key)), `counter ${hex(ctr)} key ${hex(key)}`).toBe(want);
  });

  it('mulhilo32 equals the exact 64-bit product (checked with BigInt)', () => {
    const edge = [0, 1, 2, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
    let s = 12345;
    const lcg = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
    const pairs: [number, number][] = [];
    for (const a of edge) for (const b of edge) pairs.push([a, b]);
    for (let i = 0; i < 2000; i++) pairs.push([lcg(), lcg()]);
    for (const [a, b] of pairs) {
      const p = BigInt(a) * BigInt(b);
      expect(mulhilo32(a, b), `${a} * ${b}`).toEqual([Number(p >> 32n), Number(p & 0xffffffffn)]);
    }
  });

  it('fewer rounds give different words (the round count is not silently ignored)', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0], 7))).not.toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  });
});

describe('GPU Philox kernel', () => {
  it('reproduces the first known-answer vector (counter 0, key 0)', async () => {
    expect(hex(await gpuBits([0, 0], [0, 0], 4))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  });

  it('matches the reference bit for bit over many blocks, a ragged tail, a 64-bit key and a counter carry', async () => {
    const cases: { key: Key2; offset: Key2; n: number }[] = [
      // 1001 outputs = 250 full blocks + 1: several workgroups of 64 threads and a partial last block.
      { key: [0x89abcdef, 0x01234567], offset: [5, 7], n: 1001 },
      // The low counter word wraps past 0xffffffff inside the call: the carry must reach the high word.
      { key: [42, 0], offset: [0xfffffff0, 3], n: 4 * 40 + 3 },
      { key: [0xffffffff, 0xffffffff], offset: [0xffffffff, 0xffffffff], n: 8 },
    ];
    for (const c of cases) {
      const got = await gpuBits(c.key, c.offset, c.n);
      const want = philoxStream(c.key, c.offset, c.n);
      expect(got.length).toBe(c.n);
      const bad = got.findIndex((w, i) => w !== want[i]);
      expect(bad, `key ${hex(c.key)} offset ${hex(c.offset)}: first mismatch at ${bad}: ${hex([got[bad] ?? 0])} vs ${hex([want[bad] ?? 0])}`).toBe(-1);
    }
    // The carry case really crossed the boundary: block 16 has counter (0, 4), and differs from (0, 3).
    expect(hex(philoxStream([42, 0], [0xfffffff0, 3], 68).slice(64, 68))).toBe(hex(philox4x32([0, 4, 0, 0], [42, 0])));
    expect(hex(philox4x32([0, 4, 0, 0], [42, 0]))).not.toBe(hex(philox4x32([0, 3, 0, 0], [42, 0])));
  });

  it('writes nothing past n (a neighbouring word keeps its value)', async () => {
    const t = empty(dev(), [8], 'uint32');
    runPhilox(dev(), t.storage.binding(), { n: 8, dist: 'bits', key: [1, 2], offset: [0, 0] });
    runPhilox(dev(), t.storage.binding(), { n: 5, dist: 'bits', key: [9, 9], offset: [0, 0] });
    const got = (await t.read()) as Uint32Array;
    t.dispose();
    expect(hex(got.slice(0, 5))).toBe(hex(philoxStream([9, 9], [0, 0], 5)));
    expect(hex(got.slice(5))).toBe(hex(philoxStream([1, 2], [0, 0], 8).slice(5)));
  });
});

describe('distributions against the reference words', () => {
  // A seed above 2^32 checks the key split: key = (seed mod 2^32, floor(seed / 2^32)).
  const SEED = 3 * 2 ** 32 + 17;
  const KEY: Key2 = [17, 3];

  it('rand() on [0,1) is exactly (word >> 8) / 2^24', async () => {
    const n = 999;
    const got = await rand([n], { generator: new Generator(SEED) }).read();
    const words = philoxStream(KEY, [0, 0], n);
    const want = Array.from(words, (w) => (w >>> 8) / 2 ** 24); // exact in float32 and float64
    expect(Array.from(got)).toEqual(want);
  });

  it('randint(low, high) is exactly low + floor(word * (high - low) / 2^32)', async () => {
    const n = 777;
    for (const [low, high] of [[-5, 12], [0, 2 ** 31], [-(2 ** 31), 2 ** 31 - 1]] as const) {
      const g = new Generator(SEED);
      const got = await randint(low, high, [n], { generator: g }).read();
      expect(got).toBeInstanceOf(Int32Array);
      const words = philoxStream(KEY, [0, 0], n);
      const want = Array.from(words, (w) => randintFromWord(w, low, high - low));
      expect(Array.from(got), `randint(${low}, ${high})`).toEqual(want);
    }
  });

  it('randn() is Box-Muller on word pairs: sqrt(-2 ln u1) (cos|sin)(2 pi u2)', async () => {
    const n = 400;
    const got = await randn([n], { generator: new Generator(SEED), mean: 0.5, std: 2 }).read();
    const w = philoxStream(KEY, [0, 0], n);
    const want: number[] = [];
    for (let b = 0; b < n / 4; b++) {
      const [x, y, z, u] = [w[4 * b]!, w[4 * b + 1]!, w[4 * b + 2]!, w[4 * b + 3]!];
      for (const [r1, r2] of [[x, y], [z, u]] as const) {
        const rad = Math.sqrt(-2 * Math.log(((r1 >>> 8) + 1) / 2 ** 24));
        const th = 2 * Math.PI * ((r2 >>> 8) / 2 ** 24);
        want.push(0.5 + 2 * rad * Math.cos(th), 0.5 + 2 * rad * Math.sin(th));
      }
    }
    // GPU log/cos/sin are float32 approximations (WGSL allows a few ulp, lavapipe is close to libm);
    // 2e-4 on values of magnitude <= ~12 is loose for that yet catches any wrong pairing or scaling.
    expectClose(got, want, 2e-4, 1e-4, 'randn');
  });
});

describe('Generator semantics', () => {
  it('the same seed gives identical rand / randn / randint; a different seed differs', async () => {
    const draw = async (seed: number) => {
      const g = new Generator(seed);
      return [await rand([500], { generator: g }).read(), await randn([500], { generator: g }).read(), await randint(0, 1000, [500], { generator: g }).read()];
    };
    const [a, b, c] = [await draw(7), await draw(7), await draw(8)];
    for (let k = 0; k < 3; k++) {
      expect(Array.from(a[k]!)).toEqual(Array.from(b[k]!));
      // Distinct seeds: continuous draws never coincide; randint over 1000 values agrees ~1/1000 of the time.
      expect(agreements(a[k]!, c[k]!), `draw ${k}`).toBeLessThan(10);
    }
  });

  it('the offset advances by ceil(n/4) blocks, so successive calls continue the stream and differ', async () => {
    const g = new Generator(5);
    expect(g.getState()).toEqual({ seed: 5, offset: 0 });
    const first = await rand([6], { generator: g }).read();
    expect(g.getState().offset).toBe(philoxBlocks(6));
    expect(philoxBlocks(6)).toBe(2);
    const second = await rand([6], { generator: g }).read();
    expect(g.getState().offset).toBe(4);
    expect(agreements(first, second)).toBe(0);
    const unit = (w: number) => (w >>> 8) / 2 ** 24;
    expect(Array.from(second)).toEqual(Array.from(philoxStream([5, 0], [2, 0], 6), unit));
  });

  it('getState / setState replays the draws after the saved point; manualSeed restarts the stream', async () => {
    const g = new Generator(11);
    await randn([10], { generator: g }).read();
    const saved = g.getState();
    const a = await randn([37], { generator: g }).read();
    const b = await randint(-3, 3, [9], { generator: g }).read();
    g.setState(saved);
    expect(g.getState()).toEqual(saved);
    expect(Array.from(await randn([37], { generator: g }).read())).toEqual(Array.from(a));
    expect(Array.from(await randint(-3, 3, [9], { generator: g }).read())).toEqual(Array.from(b));
    g.manualSeed(11);
    expect(g.getState()).toEqual({ seed: 11, offset: 0 });
  });

  it('rejects bad seeds and empty integer ranges', () => {
    expect(() => new Generator(-1)).toThrow(/seed/);
    expect(() => new Generator(1.5)).toThrow(/seed/);
    expect(() => randint(3, 3, [2])).toThrow(/low < high/);
    expect(() => randint(0, 2 ** 32, [2])).toThrow(RangeError);
  });

  it('an empty shape draws nothing and does not advance the stream', async () => {
    const g = new Generator(1);
    const t = rand([0, 3], { generator: g });
    expect(t.shape).toEqual([0, 3]);
    expect((await t.read()).length).toBe(0);
    expect(g.getState().offset).toBe(0);
  });
});

describe('statistical sanity (generous bounds)', () => {
  it('randn: mean and std of 100k draws within 0.02 of 0 and 1', async () => {
    const x = await randn([100_000], { generator: new Generator(2024) }).read();
    const { mean, std } = meanStd(x);
    // Standard errors are 0.003 (mean) and 0.002 (std): 0.02 is > 6 sigma.
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
    expect(x.every(Number.isFinite)).toBe(true);
  });

  it('rand(low, high) stays in [low, high) with the uniform mean and spread', async () => {
    const x = await rand([100_000], { generator: new Generator(99), low: -2, high: 3 }).read();
    let lo = Infinity, hi = -Infinity;
    for (const v of x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    expect(lo).toBeGreaterThanOrEqual(-2);
    expect(hi).toBeLessThan(3);
    // Width 5 is covered: extremes within 0.01 of the ends (P(miss) ~ e^-200).
    expect(lo).toBeLessThan(-1.99);
    expect(hi).toBeGreaterThan(2.99);
    const { mean, std } = meanStd(x);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(std - 5 / Math.sqrt(12))).toBeLessThan(0.02);
  });

  it('rand never returns high, even for the largest word (seed 42, offset 3135530 yields word ffffff23)', async () => {
    // (2^24 - 1) / 2^24 + 1 rounds to 2.0 in float32; the contract is still [low, high).
    expect(hex(philoxStream([42, 0], [3135530, 0], 1))).toBe('ffffff23');
    const g = new Generator(42).setState({ seed: 42, offset: 3135530 });
    const x = await rand([4], { generator: g, low: 1, high: 2 }).read();
    for (const v of x) {
      expect(v).toBeGreaterThanOrEqual(1);
      expect(v).toBeLessThan(2);
    }
  });

  it('randint covers every value of a small range, never leaves [low, high), and is roughly uniform', async () => {
    const x = await randint(-3, 4, [14_000], { generator: new Generator(3) }).read();
    const counts = new Map<number, number>();
    for (const v of x) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    // Expected 2000 each, sd ~41: 15% is > 7 sigma.
    for (const [v, c] of counts) expect(Math.abs(c - 2000), `count of ${v}`).toBeLessThan(300);
  });
});
