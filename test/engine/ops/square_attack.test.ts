/**
 * The Square attack's per-query ops: the audit (L-inf update and acceptance bit-exact against float32 evaluations,
 * the L2 update against a float64 reference), the meta-pseudo-gaussian window against a literal rectangle
 * accumulation, what one update does to a batch (one window per example, one sign per channel, every position
 * reachable), what the acceptance keeps, one dispatch each, and errors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { tensor } from '../../../engine/create.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import { squareAccept, squareEta, squareL2Update, squareLinfUpdate } from '../../../engine/ops/index.js';

const dev = useDevice();

/**
 * AutoAttack's construction, transliterated as slices: on an a x b block, square k = 0, 1, ... (a (2k+1)-wide
 * slice starting k before the centre, cut to the block) gets 1/(k+1)^2 added; then each part and the whole are normalised.
 */
function etaBySlices(s: number): number[] {
  const block = (a: number, b: number): number[][] => {
    const d = Array.from({ length: a }, () => new Array<number>(b).fill(0));
    let [r0, c0] = [Math.floor(a / 2), Math.floor(b / 2)];
    for (let k = 0; k < Math.max(Math.floor(a / 2) + 1, Math.floor(b / 2) + 1); k++) {
      for (let i = Math.max(r0, 0); i < Math.min(r0 + 2 * k + 1, a); i++) {
        for (let j = Math.max(c0, 0); j < Math.min(c0 + 2 * k + 1, b); j++) d[i]![j]! += 1 / (k + 1) ** 2;
      }
      r0 -= 1;
      c0 -= 1;
    }
    const n = Math.hypot(...d.flat());
    return d.map((row) => row.map((v) => v / n));
  };
  const half = Math.floor(s / 2);
  const rows = [...(half ? block(half, s) : []), ...block(s - half, s).map((r) => r.map((v) => -v))];
  const n = Math.hypot(...rows.flat());
  return rows.flat().map((v) => v / n);
}

describe('squareEta', () => {
  it('is the rectangle accumulation of AutoAttack for every window side 1..25, with unit norm', () => {
    for (let s = 1; s <= 25; s++) {
      const eta = squareEta(s);
      expectClose(eta, etaBySlices(s), 1e-15, 0, `eta(${s})`);
      expect(Math.hypot(...eta), `||eta(${s})||`).toBeCloseTo(1, 12);
    }
  });

  it('for s = 3 is [0.25, 1.25, 0.25] over -[[0.25, 0.25, 0.25], [0.25, 1.25, 0.25]], halves normalised first', () => {
    const top = [0.25, 1.25, 0.25].map((v) => v / Math.sqrt(1.6875));
    const bottom = [0.25, 0.25, 0.25, 0.25, 1.25, 0.25].map((v) => -v / Math.sqrt(1.875));
    const whole = Math.hypot(...top, ...bottom);
    expectClose(squareEta(3), [...top, ...bottom].map((v) => v / whole), 1e-15, 0, 'eta(3)');
  });
});

describe('square_linf_update', () => {
  it('passes the audit bit-exactly (tolerance 0)', async () => {
    const [row] = await runAudit(dev(), { ops: ['square_linf_update'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.tolerance).toEqual({ atol: 0, rtol: 0 });
    expect(row!.forward.maxAbs).toBe(0);
  });

  it('sets one s x s window per example to x + eps sign_c (its own position and signs) and leaves the rest', async () => {
    const [n, c, h, w, s, eps] = [3, 2, 6, 5, 3, 0.1];
    const xs = new Array<number>(n * c * h * w).fill(0.5);
    // Draws: example 0 at the top-left with signs (-, +); 1 at the bottom-right corner (u just below 1) with (+, -); 2 at (2, 1).
    const draws = [0, 0, 0.2, 0.7, 1 - 2 ** -24, 1 - 2 ** -24, 0.9, 0.1, 0.5, 0.4, 0.6, 0.6];
    const y = await squareLinfUpdate(tensor(xs, [n, c, h, w]), tensor(xs, [n, c, h, w]), tensor(draws, [n, 4]), { size: s, eps }).read();
    const corners = [[0, 0], [h - s, w - s], [2, 1]];
    const signs = [[-1, 1], [1, -1], [1, 1]];
    for (let e = 0; e < n; e++) {
      for (let ch = 0; ch < c; ch++) {
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < w; j++) {
            const [r0, c0] = corners[e]!;
            const inside = i >= r0! && i < r0! + s && j >= c0! && j < c0! + s;
            const want = Math.fround(inside ? Math.fround(0.5 + signs[e]![ch]! * Math.fround(eps)) : 0.5);
            expect(y[((e * c + ch) * h + i) * w + j], `example ${e} channel ${ch} pixel (${i}, ${j})`).toBe(want);
          }
        }
      }
    }
  });

  it('is one dispatch for the whole batch', () => {
    const x = tensor(new Array(2 * 3 * 4 * 4).fill(0.5), [2, 3, 4, 4]);
    const u = tensor(new Array(2 * 5).fill(0.3), [2, 5]);
    const before = dev().stats().dispatches;
    squareLinfUpdate(x, x, u, { size: 2, eps: 0.1 });
    expect(dev().stats().dispatches - before).toBe(1);
  });
});

describe('square_l2_update', () => {
  it('passes the audit against the float64 reference', async () => {
    const [row] = await runAudit(dev(), { ops: ['square_l2_update'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
  });

  it('puts every candidate on the eps-sphere (away from the [0, 1] walls), changes only the two windows, and is one dispatch', async () => {
    const rng = new CpuRandom(5);
    const [n, c, h, w, s, eps] = [4, 3, 9, 9, 3, 0.3];
    const f = c * h * w;
    const xs = Array.from({ length: n * f }, () => Math.fround(rng.uniform(0.3, 0.7)));
    const best = xs.map((v, i) => Math.fround(v + (i % 7 === 0 ? 0.05 : -0.02)));
    const draws = Array.from({ length: n * (5 + c) }, () => rng.next());
    const args = [tensor(xs, [n, c, h, w]), tensor(best, [n, c, h, w]), tensor(draws, [n, 5 + c]), tensor([...squareEta(s)], [s, s])] as const;
    const before = dev().stats().dispatches;
    const out = squareL2Update(...args, { eps });
    expect(dev().stats().dispatches - before).toBe(1);
    const y = await out.read();
    for (let e = 0; e < n; e++) {
      const d = Array.from({ length: f }, (_, k) => y[e * f + k]! - xs[e * f + k]!);
      expect(Math.hypot(...d), `||y - x|| of example ${e}`).toBeCloseTo(eps, 5);
      // Outside both windows the old perturbation survives, rescaled by one common factor.
      const u = draws.slice(e * (5 + c), (e + 1) * (5 + c));
      const off = (v: number) => Math.min(Math.floor(Math.fround(v * (h - s + 1))), h - s);
      const [a, b, a2, b2] = [off(u[0]!), off(u[1]!), off(u[2]!), off(u[3]!)];
      const ratios: number[] = [];
      for (let k = 0; k < f; k++) {
        const [i, j] = [Math.floor((k % (h * w)) / w), k % w];
        const inWindow = (i >= a && i < a + s && j >= b && j < b + s) || (i >= a2 && i < a2 + s && j >= b2 && j < b2 + s);
        if (!inWindow) ratios.push(d[k]! / (best[e * f + k]! - xs[e * f + k]!));
      }
      expect(ratios.length).toBeGreaterThan(0);
      expectClose(ratios, new Array<number>(ratios.length).fill(ratios[0]!), 1e-4, 1e-3, `example ${e}: the scale outside the windows`);
    }
  });
});

describe('square_accept', () => {
  it('passes the audit bit-exactly (tolerance 0)', async () => {
    const [row] = await runAudit(dev(), { ops: ['square_accept'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.forward.maxAbs).toBe(0);
  });

  it('takes a candidate only for an open example whose margin strictly rises, and closes it once the margin is >= 0', async () => {
    // Margins of the candidates (label 0 of 3 classes): -1, -1, 0.5, -0.25, 2.
    const z = [2, 1, 0, 2, 0, 1, 0, 0.5, 0, 1, 0.5, 0.75, 0, 2, 1];
    const stored = [-2, -1, -3, -0.1, -4];
    const open = [1, 1, 1, 1, 0];
    const cand = Array.from({ length: 10 }, (_, i) => 10 + i);
    const best = Array.from({ length: 10 }, (_, i) => i);
    const before = dev().stats().dispatches;
    const r = squareAccept(tensor(z, [5, 3]), tensor(new Int32Array(5), [5]), tensor(cand, [5, 2]), tensor(best, [5, 2]), tensor(stored), tensor(open));
    expect(dev().stats().dispatches - before).toBe(1);
    // Taken: 0 (rises), 2 (rises, now misclassified). Not: 1 (equal), 3 (falls), 4 (closed, though it would rise).
    expect(Array.from(await r.loss.read())).toEqual([-1, -1, 0.5, -0.1, -4].map(Math.fround));
    expect(Array.from(await r.open.read())).toEqual([1, 1, 0, 1, 0]);
    expect(Array.from(await r.best.read())).toEqual([10, 11, 2, 3, 14, 15, 6, 7, 8, 9]);
  });
});

it('refuses wrong shapes, a window larger than the image, and a bad eps, naming them', () => {
  const x = tensor(new Array(2 * 1 * 4 * 4).fill(0.5), [2, 1, 4, 4]);
  const u = tensor(new Array(2 * 3).fill(0.3), [2, 3]);
  expect(() => squareLinfUpdate(tensor([0.5, 0.5]), tensor([0.5, 0.5]), u, { size: 1, eps: 0.1 })).toThrow(/squareLinfUpdate: x must be images \[N, C, H, W\], got shape \[2\]/);
  expect(() => squareLinfUpdate(x, x, tensor([0.1, 0.2], [2, 1]), { size: 1, eps: 0.1 })).toThrow(/draws must be \[2, 3\]/);
  expect(() => squareLinfUpdate(x, x, u, { size: 5, eps: 0.1 })).toThrow(/window side must be an integer in \[1, 4\] for 4x4 images, got 5/);
  expect(() => squareLinfUpdate(x, x, u, { size: 2, eps: -1 })).toThrow(/eps must be a finite number >= 0, got -1/);
  expect(() => squareL2Update(x, x, tensor(new Array(12).fill(0.3), [2, 6]), tensor([1, 2, 3], [3]), { eps: 0.1 })).toThrow(/eta must be a square window \[s, s\], got shape \[3\]/);
  expect(() => squareEta(0)).toThrow(/window side must be an integer >= 1, got 0/);
});
