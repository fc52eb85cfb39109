import { describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { Generator, defaultGenerator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import { philoxStream, randintFromWord } from '../../../engine/ref/philox.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import { augment, augmentCodeRange, augmentCpu, augmentWith, decodeAugment, drawAugment } from '../../../training/data/augment.js';

const dev = useDevice();

/** Distinct non-zero pixels, so a padding zero or a misplaced pixel cannot pass for another. */
function pixels(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 1 + i);
}

function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
}

describe('augment (random crop with zero padding, horizontal flip)', () => {
  it('moves the pixels of a hand-worked example: shifted down one row, right two columns of padding, flipped', async () => {
    // x is [[1, 2, 3], [4, 5, 6]], pad 1: code 15 is dy 0, dx 2, flip.
    expect(decodeAugment(15, 1)).toEqual({ dy: 0, dx: 2, flip: true });
    const y = scope(() => augmentWith(tensor(pixels(6), [1, 1, 2, 3]), tensor(Int32Array.of(15), [1]), 1));
    expectSame(await y.read(), [0, 0, 0, 0, 3, 2], 'augment');
    expectSame(augmentCpu(pixels(6), [1, 1, 2, 3], [15], 1), [0, 0, 0, 0, 3, 2], 'augmentCpu');
    y.dispose();
  });

  it.each([
    ['odd non-square images, pad 2, flips', [5, 3, 7, 6], 2, true],
    ['CIFAR: pad 4, crop 32, flips', [8, 3, 32, 32], 4, true],
    ['crop only', [4, 1, 5, 5], 1, false],
    ['flip only', [6, 2, 3, 4], 0, true],
  ] as const)('equals the CPU reference exactly on the codes it draws (%s)', async (_, shape, padding, flip) => {
    const d = dev();
    const n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
    const x = pixels(n);
    const g = new Generator(7);
    const { key, offset } = new Generator(7).take(shape[0]);
    const live = d.stats().liveTensors;
    const [codes, y] = scope(() => {
      const xt = tensor(x, shape);
      const c = drawAugment(shape[0], { padding, flip, generator: g });
      return [c, augmentWith(xt, c, padding)];
    });
    const c = Array.from(await codes.read());
    // The draws are Philox's randint, reproducible on the CPU from the generator's state.
    const range = augmentCodeRange(padding, flip);
    expect(c).toEqual(Array.from(philoxStream(key, offset, shape[0]), (w) => randintFromWord(w, 0, range)));
    expectSame(await y.read(), augmentCpu(x, shape, c, padding), 'augment vs CPU');
    codes.dispose();
    y.dispose();
    expect(d.stats().liveTensors).toBe(live);
  });

  it('augment(x) draws from the generator given, leaves the default one alone, and repeats from the same state', async () => {
    const d = dev();
    const shape = [16, 3, 8, 8] as const;
    const x = pixels(16 * 3 * 64);
    const before = defaultGenerator.getState();
    const g = new Generator(3);
    const state = g.getState();
    const live = d.stats().liveTensors;
    const [a, b, codes] = scope(() => {
      const xt = tensor(x, shape);
      const a = augment(xt, { padding: 2, flip: true, generator: g });
      const b = augment(xt, { padding: 2, flip: true, generator: new Generator().setState(state) });
      return [a, b, drawAugment(16, { padding: 2, flip: true, generator: new Generator().setState(state) })];
    });
    const ya = await a.read();
    expectSame(ya, await b.read(), 'same generator state');
    expectSame(ya, augmentCpu(x, shape, await codes.read(), 2), 'augment vs CPU');
    expect(g.getState().offset).toBeGreaterThan(state.offset);
    expect(defaultGenerator.getState()).toEqual(before);
    [a, b, codes].forEach((t) => t.dispose());
    expect(d.stats().liveTensors).toBe(live);
  });

  it('draws every crop offset and flips about half the examples', async () => {
    const codes = drawAugment(4000, { padding: 4, flip: true, generator: new Generator(11) });
    const c = Array.from(await codes.read());
    codes.dispose();
    const draws = c.map((k) => decodeAugment(k, 4));
    const flips = draws.filter((t) => t.flip).length;
    expect(flips).toBeGreaterThan(1800);
    expect(flips).toBeLessThan(2200);
    expect(new Set(draws.map((t) => t.dy)).size).toBe(9);
    expect(new Set(draws.map((t) => t.dx)).size).toBe(9);
    expect(Math.max(...c)).toBeLessThan(augmentCodeRange(4, true));
    expect(Math.min(...c)).toBeGreaterThanOrEqual(0);
  });

  it('refuses what it cannot augment, naming the argument', () => {
    const g = new Generator(0);
    scope(() => {
      const x = tensor(new CpuRandom(1).permutation(48), [1, 3, 4, 4]);
      expect(() => augment(x, { padding: -1, generator: g })).toThrow(/padding must be an integer >= 0, got -1/);
      expect(() => augment(x, { padding: 1 } as never)).toThrow(/a generator is required/);
      expect(() => augment(tensor(pixels(12), [3, 4]), { generator: g })).toThrow(/expected float32 images \[B, C, H, W\], got float32 \[3,4\]/);
      expect(() => augmentWith(x, tensor(Int32Array.of(0, 1), [2]), 1)).toThrow(/codes must be int32 \[1\], got int32 \[2\]/);
      x.requiresGrad = true;
      expect(() => augment(x, { generator: g })).toThrow(/requires grad, but augmentation is not differentiable/);
    });
  });
});
