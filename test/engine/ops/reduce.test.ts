/**
 * Reductions beyond the audit's random draws: the pass plan's invariants, NaN and infinities through every
 * kind of pass (one word per load, 4 adjacent outputs per load, 4 words of a row folded, chunks of chunks),
 * empty tensors, and that the passes' temporaries are freed.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor, full } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import { refGroups } from '../../../engine/ref/tensor.js';
import { sizeOf, type Shape } from '../../../engine/shape.js';
import * as o from '../../../engine/ops/index.js';
import { planAxisPasses } from '../../../kernels/reduce.js';

const dev = useDevice();

describe('planAxisPasses', () => {
  it('chains passes whose chunks cover the axis, loading vec4s only where the layout allows', () => {
    for (const cpu of [false, true]) {
      for (const [a, r, b] of [[1, 70000, 1], [2048, 196, 1], [1, 64, 32], [1, 256, 1024], [7, 33, 5], [3, 1, 8], [1, 0, 4], [1, 5000, 12], [1000000, 2, 1]]) {
        const passes = planAxisPasses(a!, r!, b!, cpu);
        let len = r!;
        for (const p of passes) {
          expect([p.a, p.r, p.b]).toEqual([a, len, b]);
          expect(p.chunk * p.c).toBeGreaterThanOrEqual(p.r);
          if (p.r > 0) expect(p.chunk * (p.c - 1)).toBeLessThan(p.r);
          if (p.lanes === 'b') expect([p.b % 4, p.r > 0]).toEqual([0, true]);
          if (p.lanes === 'r') expect([p.b, p.r % 4, p.chunk % 4, p.r > 0]).toEqual([1, 0, 0, true]);
          len = p.c;
        }
        expect(len).toBe(1);
      }
    }
  });

  it('chunks the shapes the tests below rely on to cover each kind of pass', () => {
    for (const cpu of [false, true]) {
      const first = (a: number, r: number, b: number) => { const p = planAxisPasses(a, r, b, cpu)[0]!; return [p.lanes, p.c > 1]; };
      expect(first(256, 300, 1)).toEqual(['r', true]);
      expect(first(1, 4096, 16)).toEqual(['b', true]);
      expect(first(2, 6000, 7)).toEqual([null, true]);
      expect(first(1, 70000, 1)).toEqual(['r', true]);
      expect(planAxisPasses(1, 70000, 1, cpu).length).toBe(3);
      expect(first(1, 64, 32)).toEqual(['b', false]);
    }
  });
});

function refReduce(data: number[], shape: Shape, axes: number[], f: (v: number[]) => number): number[] {
  return refGroups(shape, axes).map((idx) => f(idx.map((i) => data[i]!)));
}

const sumOf = (v: number[]): number => v.reduce((p, q) => p + q, 0);

describe('NaN and infinities through each kind of pass', () => {
  // Each kind of load, unchunked (small) then in chunks: rows folded from vec4s ([8, 4, 36], [64, 4, 300]),
  // vec4s of 4 outputs ([40, 12], [4096, 16]), one word ([3, 50, 5], [2, 6000, 7]); [6, 5, 8, 9] over
  // (0, 2, 3) and K R K R K mix them; [70000] is chunks of chunks.
  const cases: [Shape, number[]][] = [
    [[8, 4, 36], [2]], [[64, 4, 300], [2]], [[40, 12], [0]], [[4096, 16], [0]], [[3, 50, 5], [1]], [[2, 6000, 7], [1]],
    [[6, 5, 8, 9], [0, 2, 3]], [[2, 3, 4, 5, 6], [1, 3]], [[70000], [0]],
  ];
  for (const [shape, axes] of cases) {
    it(`${JSON.stringify(shape)} over ${JSON.stringify(axes)}`, async () => {
      const n = sizeOf(shape);
      const data = Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 4));
      // NaN, +inf and -inf in some groups only, including ones met last in a chunk and in a vec4 lane.
      for (const [at, v] of [[7, NaN], [Math.floor(n / 3), Infinity], [Math.floor(n / 2) + 1, -Infinity], [n - 1, NaN], [Math.floor(n / 5), -Infinity], [Math.floor(n / 5) + 3, Infinity]] as const) data[at] = v;
      const x = tensor(data, shape);
      for (const [name, op, f] of [['sum', o.sum, sumOf], ['max', o.max, (v: number[]) => Math.max(...v)], ['min', o.min, (v: number[]) => Math.min(...v)]] as const) {
        const want = refReduce(data, shape, axes, f);
        const got = Array.from(await scope(() => op(x, axes)).read());
        expect(got.map(Number.isNaN), name).toEqual(want.map(Number.isNaN));
        expect(got.map((v) => (Number.isFinite(v) ? 0 : v)).filter((v) => !Number.isNaN(v)), name).toEqual(want.map((v) => (Number.isFinite(v) ? 0 : v)).filter((v) => !Number.isNaN(v)));
        expectClose(got.map((v) => (Number.isFinite(v) ? v : 0)), want.map((v) => (Number.isFinite(v) ? v : 0)), 1e-3, 1e-4, name);
      }
    });
  }

  it('max of all -inf is -inf and min of all +inf is +inf, on every kind of pass', async () => {
    for (const shape of [[3, 5], [4, 8], [12, 7], [3000]]) {
      expect(Array.from(await o.max(full(shape, -Infinity), [0]).read()).every((v) => v === -Infinity)).toBe(true);
      expect(Array.from(await o.min(full(shape, Infinity), [0]).read()).every((v) => v === Infinity)).toBe(true);
    }
  });
});

describe('edge shapes', () => {
  it('sums over an empty axis to zeros, and reduces nothing on an empty output', async () => {
    expect(Array.from(await o.sum(full([0, 3], 1), [0]).read())).toEqual([0, 0, 0]);
    expect(Array.from(await o.sum(full([0, 4], 1), [0]).read())).toEqual([0, 0, 0, 0]);
    expect(Array.from(await o.sum(full([4, 0], 1), [1]).read())).toEqual([0, 0, 0, 0]);
    expect(await o.sum(full([0], 1)).item()).toBe(0);
    expect(o.sum(full([3, 0], 1), [0]).shape).toEqual([0]);
  });

  it('applies the mean\'s scale once over several passes', async () => {
    expect(await o.mean(full([70000], 2)).item()).toBeCloseTo(2, 5);
    expectClose(await o.mean(full([64, 32, 14, 14], 3), [0, 2, 3]).read(), new Array<number>(32).fill(3));
  });

  it('frees the passes\' temporaries', async () => {
    const x = full([64, 16, 28, 28], 1);
    const before = dev().stats().liveTensors;
    const y = o.sum(x, [0, 2, 3]);
    expect(dev().stats().liveTensors).toBe(before + 1);
    expectClose(await y.read(), new Array<number>(16).fill(64 * 28 * 28));
    y.dispose();
    x.dispose();
  });
});
