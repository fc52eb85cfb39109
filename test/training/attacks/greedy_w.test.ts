/**
 * greedy-W (METHODS §5.6): the cheapest-first choice on hand-made costs, then on a trained model: the budget
 * spent is at most delta, images are broken in increasing order of cost, every broken image is a real adversarial
 * point within its radius and every other image is untouched, the radii are bracketed to the stated tolerance,
 * greedy-W is at least as strong as W-PGD, and the distributional accuracy is the minimum of the four attacks.
 * BN statistics untouched, nothing leaked.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSameBits, useDevice } from '../../helpers.js';
import { full, tensor } from '../../../engine/create.js';
import { Generator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import type { Tensor } from '../../../engine/tensor.js';
import type { Sequential } from '../../../nn/layers/index.js';
import { withAttackMode } from '../../../training/bn_mode.js';
import { chooseCheapest, greedyW, type GreedyWResult } from '../../../training/attacks/greedy_w.js';
import { pgdAtRadii } from '../../../training/attacks/pgd_radii.js';
import { wpgd } from '../../../training/attacks/wasserstein.js';
import { distributionalAccuracy } from '../../../training/attacks/distributional.js';
import { bnNet, fashion, trainedMlp, type Data } from './models.js';

const dev = useDevice();

async function readAll(ts: Tensor[]): Promise<Float32Array> {
  const parts = await Promise.all(ts.map((t) => t.read() as Promise<Float32Array>));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function free(r: { xAdv: Tensor[]; correct: Tensor }): void {
  r.xAdv.forEach((t) => t.dispose());
  r.correct.dispose();
}

describe('the cheapest-first choice', () => {
  it('takes images in increasing cost while the mean squared cost stays within delta^2', () => {
    const costs = [0.3, 0, Infinity, 0.1, 0.2, 0.1];
    // 6 * 0.07^2 = 0.0294: room for 0 + 0.01 + 0.01, not for the 0.04 of the next one.
    const a = chooseCheapest(costs, 0.07);
    expect(Array.from(a.chosen)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(a.spent2).toBeCloseTo(0.02 / 6, 12);
    expect(a.limited).toBe(false);
    // A budget for everything finite: it stops at the image no radius broke, and says so.
    const b = chooseCheapest(costs, 1);
    expect(Array.from(b.chosen)).toEqual([1, 1, 0, 1, 1, 1]);
    expect(b.limited).toBe(true);
    // delta 0 still breaks the images that are wrong when clean (cost 0).
    expect(Array.from(chooseCheapest(costs, 0).chosen)).toEqual([0, 1, 0, 0, 0, 0]);
  });
});

describe('greedy-W on a trained model', () => {
  let model: Sequential;
  let data: Data;
  let g: GreedyWResult;
  const delta = 0.05;
  const opts = { delta, bisections: 6, steps: 5, batchSize: 128 } as const;
  beforeAll(async () => {
    model = await trainedMlp();
    data = fashion('test', 256);
    g = await greedyW(model, data, opts);
  });

  it('spends at most its budget, measured on the attacked set', async () => {
    const x = await data.x.read();
    const adv = await readAll(g.xAdv);
    const f = x.length / g.n;
    const r = Array.from({ length: g.n }, (_, i) => {
      let m = 0;
      for (let k = 0; k < f; k++) m = Math.max(m, Math.abs(adv[i * f + k]! - x[i * f + k]!));
      return m;
    });
    const spent = Math.sqrt(r.reduce((a, v) => a + v * v, 0) / g.n);
    expect(spent, `W_2 of the attacked set ${spent}`).toBeLessThanOrEqual(delta * (1 + 1e-5));
    expect(Math.abs(spent - g.budgetSpent)).toBeLessThan(1e-6);
    expect(spent, 'the budget is nearly used up').toBeGreaterThan(0.9 * delta);
    // Each broken image sits at its cost, at most its radius; every other image is x itself.
    for (let i = 0; i < g.n; i++) {
      if (g.chosen[i]) {
        expect(Math.abs(r[i]! - g.costs[i]!), `image ${i}: distance ${r[i]} vs cost ${g.costs[i]}`).toBeLessThan(1e-6);
        expect(g.costs[i]!, `image ${i}`).toBeLessThanOrEqual(g.radii[i]! + 1e-6);
      } else {
        expect(r[i], `image ${i} is not broken, so it is not moved`).toBe(0);
      }
    }
  });

  it('breaks images in increasing order of cost, as many as the budget allows', () => {
    const chosen = Array.from(g.costs).filter((_, i) => g.chosen[i]);
    const rest = Array.from(g.costs).filter((c, i) => !g.chosen[i] && Number.isFinite(c)).sort((a, b) => a - b);
    expect(rest.length, 'some images stay unbroken at this budget').toBeGreaterThan(0);
    expect(Math.max(...chosen)).toBeLessThanOrEqual(rest[0]!);
    const sum2 = chosen.reduce((a, c) => a + c * c, 0);
    expect(sum2 + rest[0]! ** 2, 'the next cheapest image does not fit').toBeGreaterThan(delta * delta * g.n);
    expect(g.broken).toBe(chosen.length);
  });

  it('every broken image is misclassified in the attacked set; the accuracy is measured, not assumed', async () => {
    const c = await g.correct.read();
    for (let i = 0; i < g.n; i++) expect(c[i], `image ${i} (chosen ${g.chosen[i]})`).toBe(g.chosen[i] ? 0 : 1);
    expect(g.accuracy).toBe(1 - g.broken / g.n);
    const clean = withAttackMode(model, 'eval', () => scope(() => model.forward(data.x).argmax(1)));
    const pred = await clean.read();
    clean.dispose();
    const wrongClean = Array.from(pred).filter((p, i) => p !== data.labels[i]).length;
    expect(g.radii.filter((r) => r === 0).length, 'radius 0 exactly for the images wrong when clean').toBe(wrongClean);
  });

  it('brackets each radius to rMax / 2^bisections: PGD breaks the image at r_i (the kept point) and not at r_i - tolerance', async () => {
    expect(g.tolerance).toBeCloseTo(g.rMax / 64, 12);
    const inside = Array.from(g.radii).map((r, i) => [r, i] as const).filter(([r]) => r > 0 && Number.isFinite(r));
    expect(inside.length).toBeGreaterThan(50);
    for (const [r] of inside) expect(Math.abs(r / g.tolerance - Math.round(r / g.tolerance)), `radius ${r} is on the bisection grid`).toBeLessThan(1e-4);
    // r_i - tolerance is the bracket's lower end, where the same deterministic PGD (no random start, same batches) failed.
    const fooled: number[] = [];
    for (let a = 0; a < g.n; a += opts.batchSize) {
      const rows = Array.from(g.radii.subarray(a, a + opts.batchSize), (r) => (r > 0 && Number.isFinite(r) ? r - g.tolerance : 0));
      const res = scope(() => {
        const below = tensor(Float32Array.from(rows), [rows.length]);
        return withAttackMode(model, 'eval', () => pgdAtRadii(model, data.x.slice(0, a, a + rows.length), data.y.slice(0, a, a + rows.length), below, { norm: 'linf', steps: opts.steps, start: 'none', loss: 'ce' }));
      });
      fooled.push(...await res.fooled.read());
      [res.xAdv, res.fooled, res.loss].forEach((t) => t.dispose());
    }
    const brokenBelow = inside.filter(([, i]) => fooled[i] === 1).map(([r, i]) => `image ${i} (radius ${r})`);
    expect(brokenBelow, 'images PGD breaks one tolerance below their radius').toEqual([]);
  });

  it('is at least as strong as W-PGD (ReDLR and CE) at the same delta', async () => {
    const w = await wpgd(model, data, { q: 2, s: 1, delta, steps: 20, loss: 'redlr' });
    const ce = await wpgd(model, data, { q: 2, s: 1, delta, steps: 20, loss: 'ce' });
    expect(g.accuracy, `greedy-W ${g.accuracy}, W-PGD ReDLR ${w.accuracy}, W-PGD CE ${ce.accuracy}`).toBeLessThanOrEqual(Math.min(w.accuracy, ce.accuracy));
    free(w);
    free(ce);
  });

  it('distributional accuracy is the minimum of greedy-W, W-PGD ReDLR, W-PGD CE and PGD, each shown, with the Upsilon estimate beside them', async () => {
    const small = { x: data.x.slice(0, 0, 64), y: data.y.slice(0, 0, 64) };
    const r = await distributionalAccuracy(model, small, { delta, wpgdSteps: 5, pgdSteps: 5, greedy: { bisections: 4, steps: 3 }, generator: new Generator(3) });
    expect(r.rows.map((x) => x.attack)).toEqual(['greedy-W', 'W-PGD ReDLR', 'W-PGD CE', 'PGD']);
    expect(r.accuracy).toBe(Math.min(...r.rows.map((x) => x.accuracy)));
    expect(r.rows.find((x) => x.attack === r.by)!.accuracy).toBe(r.accuracy);
    // the W attacks report the budget they spent (the check of evaluate); pointwise PGD spends delta on every image
    for (const x of r.rows.slice(0, 3)) expect(x.spent, x.attack).toBeLessThanOrEqual(delta * (1 + 1e-4));
    expect(r.rows[0]!.spent, 'greedy-W spends budget on a trained model').toBeGreaterThan(0);
    expect(r.rows[3]!.spent).toBeUndefined();
    expect(r.n).toBe(64);
    expect(r.upsilon!.estimate.kind).toBe('estimate');
    expect(r.upsilon!.upsilon).toBeGreaterThan(0);
    small.x.dispose();
    small.y.dispose();
  });

  it('refuses a bad delta, rMax or step count, and a missing generator', async () => {
    await expect(greedyW(model, data, { delta: -1, generator: new Generator(0) })).rejects.toThrow(/delta must be a finite number >= 0, got -1/);
    await expect(greedyW(model, data, { delta: 0.1, rMax: 2, generator: new Generator(0) })).rejects.toThrow(/rMax must be .*<= 1 .*got 2/);
    await expect(greedyW(model, data, { delta: 0.1, bisections: 1.5, generator: new Generator(0) })).rejects.toThrow(/bisections must be an integer >= 0, got 1.5/);
    await expect(greedyW(model, data, { delta: 0.1, start: 'uniform' })).rejects.toThrow(/'uniform' start needs a generator/);
  });

  it('at delta 0 breaks exactly the images wrong when clean, spending nothing', async () => {
    const small = { x: data.x.slice(0, 0, 64), y: data.y.slice(0, 0, 64) };
    const r = await greedyW(model, small, { delta: 0, bisections: 1, steps: 1 });
    expect(r.budgetSpent).toBe(0);
    expect(r.broken).toBe(r.radii.filter((v) => v === 0).length);
    expect(r.accuracy).toBe(1 - r.broken / 64);
    free(r);
    small.x.dispose();
    small.y.dispose();
  });

  it('leaks nothing over repeated runs', async () => {
    const small = { x: data.x.slice(0, 0, 40), y: data.y.slice(0, 0, 40) };
    const run = async () => free(await greedyW(model, small, { delta, bisections: 2, steps: 2, batchSize: 16, s: 2, start: 'uniform', generator: new Generator(1) }));
    await run();
    await dev().sync();
    const before = dev().stats().liveTensors;
    await run();
    await dev().sync();
    expect(dev().stats().liveTensors).toBe(before);
    small.x.dispose();
    small.y.dispose();
  });
});

it('never updates BN running statistics (a BN net in train mode)', async () => {
  const m = bnNet(3);
  const d = fashion('train', 20);
  const before = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  m.train();
  free(await greedyW(m, d, { delta: 0.05, bisections: 2, steps: 2, batchSize: 8, start: 'uniform', generator: new Generator(0) }));
  const after = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  after.forEach((a, i) => expect(Array.from(a), m.namedBuffers()[i]![0]).toEqual(Array.from(before[i]!)));
  for (const p of m.parameters()) expect(p.grad).toBeNull();
  expect(m.training).toBe(true);
  // The radius tensor given to PGD is the caller's: an all-zero radius holds every image at x.
  const zero = full([20], 0);
  const r = withAttackMode(m, 'eval', () => pgdAtRadii(m, d.x, d.y, zero, { norm: 'l2', steps: 2, start: 'uniform', loss: 'ce', generator: new Generator(0) }));
  expectSameBits(await r.xAdv.read() as Float32Array, await d.x.read() as Float32Array, 'radius 0');
  [zero, r.xAdv, r.fooled, r.loss].forEach((t) => t.dispose());
});
