import { beforeAll, describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import type { Sequential } from '../../../nn/layers/index.js';
import { ingredientsFromModels } from '../../../training/soups/ingredients.js';
import { learnedSoup, type LearnedSoupResult } from '../../../training/soups/learned.js';
import { evaluateSoup } from '../../../training/soups/metric.js';
import { soupModel } from '../../../training/soups/assemble.js';
import { disposeResult } from '../../../training/soups/result.js';
import { copyOf, data, EPS, heldOutEval, mlp2, train } from './fixtures.js';

const dev = useDevice();
const attack = { eps: EPS, alpha: EPS / 2, steps: 2 };
const fmt = (v: number[]) => `[${v.map((c) => c.toFixed(3)).join(', ')}]`;

let ftClean: Sequential;
let ftRobust: Sequential;
let untrained: Sequential;

beforeAll(() => {
  const base = train(mlp2(0), { steps: 60, seed: 0 });
  ftClean = train(copyOf(base, mlp2), { steps: 15, seed: 1, lr: 0.05 }) as Sequential;
  ftRobust = train(copyOf(base, mlp2), { steps: 15, seed: 2, lr: 0.05, adversarial: true }) as Sequential;
  untrained = mlp2(5).eval();
  base.dispose();
});

const pair = (a: Sequential, b: Sequential) => ingredientsFromModels([copyOf(a, mlp2), copyOf(b, mlp2)]);

describe('adversarial learned soup', () => {
  it('trains: from near the clean ingredient the held-out PGD loss falls; selection is the best held-out score', async () => {
    const ing = pair(ftClean, ftRobust);
    const heldOut = heldOutEval();
    const live = dev().stats().liveTensors;
    const r = await learnedSoup(ing, { train: data().train, heldOut, attack, init: [0.9, 0.1], steps: 30, batchSize: 64, evalEvery: 10, seed: 3 });
    const [first, last] = [r.history[0]!, r.history[r.history.length - 1]!];
    console.log(`learned soup: held-out PGD loss ${first.metrics.robustLoss.toFixed(4)} -> ${last.metrics.robustLoss.toFixed(4)} (selected step ${r.selectedStep}: ${r.heldOut.robustLoss.toFixed(4)}), `
      + `clean/PGD acc ${(100 * first.metrics.clean).toFixed(1)}/${(100 * first.metrics.robust).toFixed(1)} -> ${(100 * r.heldOut.clean).toFixed(1)}/${(100 * r.heldOut.robust).toFixed(1)}, `
      + `alpha ${fmt(first.coefficients as number[])} -> ${fmt(r.coefficients as number[])}; ${r.wallMs.toFixed(0)} ms (train ${r.trainMs.toFixed(0)}, held-out evals ${r.evalMs.toFixed(0)})`);
    expect(r.history.map((h) => h.step)).toEqual([0, 10, 20, 30]);
    expect(last.metrics.robustLoss).toBeLessThan(first.metrics.robustLoss - 0.02);
    expect((r.coefficients as number[])[1]).toBeGreaterThan(0.2);
    expect(Math.abs((r.coefficients as number[]).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
    expect(r.history.every((h) => h.score <= r.history.find((x) => x.step === r.selectedStep)!.score)).toBe(true);
    expect(r.history.slice(1).every((h) => Number.isFinite(h.trainLoss))).toBe(true);
    // The result's soup is the selected coefficients' soup: its held-out metrics again.
    expect(await evaluateSoup(soupModel(ing, r.state), heldOut)).toEqual(r.heldOut);
    expect([r.method, r.param, r.granularity, r.loss]).toEqual(['learned', 'softmax', 'model', { kind: 'mix', lambda: 0.5 }]);
    disposeResult(r);
    expect(dev().stats().liveTensors).toBe(live);
    ing.dispose();
  });

  it('a temperature lets a softmax soup reach an ingredient (0.1: alpha > 0.99 in 30 steps; 1: it stays inside)', async () => {
    const ing = pair(untrained, ftClean);
    const heldOut = heldOutEval(250, 1);
    const run = (temperature: number) => learnedSoup(ing, { train: data().train, heldOut, attack, loss: { kind: 'mix', lambda: 1 }, temperature, steps: 30, batchSize: 64, evalEvery: 30, seed: 4, criterion: 'clean' });
    const [cold, warm] = [await run(0.1), await run(1)];
    const last = (r: LearnedSoupResult) => r.history[r.history.length - 1]!.coefficients as number[];
    console.log(`temperature 0.1: alpha ${fmt(last(cold))}; temperature 1: ${fmt(last(warm))}`);
    expect(last(cold)[1]).toBeGreaterThan(0.99);
    expect(last(warm)[1]).toBeLessThan(0.95);
    expect(last(warm)[1]).toBeGreaterThan(0.55);
    disposeResult(cold);
    disposeResult(warm);
    ing.dispose();
  });

  it('per-layer raw-affine coefficients with the TRADES loss: every row sums to 1; the options are checked', async () => {
    const ing = pair(ftClean, ftRobust);
    const opts = { train: data().train, heldOut: heldOutEval(100, 1), attack, steps: 3, batchSize: 32, evalEvery: 3 };
    const r = await learnedSoup(ing, { ...opts, param: 'affine', granularity: 'layer', loss: { kind: 'trades' } });
    expect(r.layers).toEqual(['1', '3', '5']);
    const rows = r.history[1]!.coefficients as number[][];
    expect(rows.length).toBe(3);
    for (const row of rows) expect(Math.abs(row[0]! + row[1]! - 1)).toBeLessThan(1e-6);
    expect(rows.some((row) => Math.abs(row[0]! - 0.5) > 1e-4)).toBe(true);
    expect(r.loss).toEqual({ kind: 'trades', beta: 6 });
    disposeResult(r);
    await expect(learnedSoup(ing, { ...opts, init: [1, 0] })).rejects.toThrow(/softmax mixture cannot start at a zero coefficient/);
    await expect(learnedSoup(ing, { ...opts, loss: { kind: 'mix', lambda: 1.5 } })).rejects.toThrow(/lambda must be in \[0, 1\], got 1\.5/);
    await expect(learnedSoup(ing, { ...opts, temperature: 0 })).rejects.toThrow(/temperature must be a finite number > 0/);
    await expect(learnedSoup(ing, { ...opts, init: [0.3, 0.3] })).rejects.toThrow(/init must be finite and sum to 1/);
    ing.dispose();
    // An ingredient holding a NaN poisons every soup that weighs it: the run stops instead of training on.
    const poisoned = copyOf(ftRobust, mlp2);
    const w = poisoned.stateDict().find(([k]) => k === '5.bias')![1];
    poisoned.loadStateDict(new Map([['5.bias', tensor([NaN, ...new Array<number>(9).fill(0)], [10])]]), { strict: false });
    expect(w.disposed).toBe(false);
    const bad = ingredientsFromModels([copyOf(ftClean, mlp2), poisoned]);
    const live = dev().stats().liveTensors;
    await expect(learnedSoup(bad, { ...opts, steps: 2, evalEvery: 2 })).rejects.toThrow(/training loss is NaN over steps 1-2/);
    expect(dev().stats().liveTensors).toBe(live);
    bad.dispose();
  });
});
