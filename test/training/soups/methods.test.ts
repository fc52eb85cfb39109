import { beforeAll, describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import type { Sequential } from '../../../nn/layers/index.js';
import { ingredientsFromModels, type Ingredients } from '../../../training/soups/ingredients.js';
import { checkConnectivity, ConnectivityError } from '../../../training/soups/connectivity.js';
import { evaluateSoup, criterionScore, type SoupMetrics } from '../../../training/soups/metric.js';
import { greedySoup } from '../../../training/soups/greedy.js';
import { gridSoup, interpolationSoup } from '../../../training/soups/grid.js';
import { uniformSoup } from '../../../training/soups/fixed.js';
import { disposeResult } from '../../../training/soups/result.js';
import { soupModel } from '../../../training/soups/assemble.js';
import { copyOf, heldOutEval, mlp2, train } from './fixtures.js';

const dev = useDevice();
const pct = (m: SoupMetrics) => `${(100 * m.clean).toFixed(1)}/${(100 * m.robust).toFixed(1)}`;

// A clean base, its clean and PGD-AT fine-tunes (one basin), and a network trained independently from scratch.
let base: Sequential;
let ftClean: Sequential;
let ftRobust: Sequential;
let independent: Sequential;
let pair: () => Ingredients;

beforeAll(() => {
  base = train(mlp2(0), { steps: 60, seed: 0 }) as Sequential;
  ftClean = train(copyOf(base, mlp2), { steps: 15, seed: 1, lr: 0.05 }) as Sequential;
  ftRobust = train(copyOf(base, mlp2), { steps: 15, seed: 2, lr: 0.05, adversarial: true }) as Sequential;
  independent = train(mlp2(7), { steps: 60, seed: 3 }) as Sequential;
  pair = () => ingredientsFromModels([copyOf(ftClean, mlp2), copyOf(ftRobust, mlp2)], { labels: ['clean fine-tune', 'robust fine-tune'] });
});

describe('linear connectivity check', () => {
  it('passes fine-tunes of one base, and refuses two independently trained networks unless forced', async () => {
    const ev = heldOutEval();
    const tuned = pair();
    const ok = await checkConnectivity(tuned, ev);
    const c = ok.curves[0]!;
    console.log(`fine-tunes: ${c.points.map((p) => `${p.t.toFixed(1)}:${pct(p.metrics)}`).join(' ')} barrier clean ${c.barrier.clean.value.toFixed(3)} robust ${c.barrier.robust.value.toFixed(3)} (${ok.wallMs.toFixed(0)} ms)`);
    expect(c.points.map((p) => p.t)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(ok.passed).toBe(true);
    expect(c.barrier.clean.value).toBeLessThan(0.03);
    tuned.dispose();

    const unrelated = ingredientsFromModels([copyOf(base, mlp2), copyOf(independent, mlp2)], { labels: ['base', 'independent'] });
    const live = dev().stats().liveTensors;
    let refusal: ConnectivityError | null = null;
    try { await checkConnectivity(unrelated, ev); } catch (e) { refusal = e as ConnectivityError; }
    expect(refusal).toBeInstanceOf(ConnectivityError);
    expect(refusal!.message).toMatch(/not linearly connected: between base and independent, (clean|PGD) accuracy at t = 0\.\d0 is .*% below the straight line .* pass force/);
    const bad = refusal!.report.curves[0]!;
    console.log(`independent: ${bad.points.map((p) => `${p.t.toFixed(1)}:${pct(p.metrics)}`).join(' ')} barrier clean ${bad.barrier.clean.value.toFixed(3)}`);
    expect(bad.barrier.clean.value).toBeGreaterThan(0.2);
    const forced = await checkConnectivity(unrelated, ev, { force: true });
    expect([forced.passed, forced.forced]).toEqual([false, true]);
    expect(dev().stats().liveTensors).toBe(live);
    unrelated.dispose();
  });
});

describe('soup methods on the held-out split', () => {
  it('uniform, greedy and grid soups: greedy never below its best ingredient, grid ends are the ingredients', async () => {
    const ev = heldOutEval();
    const ing = ingredientsFromModels([copyOf(ftClean, mlp2), copyOf(ftRobust, mlp2), copyOf(base, mlp2)], { labels: ['clean', 'robust', 'base'] });
    const criterion = { cleanWeight: 0.5 };
    const uniform = await uniformSoup(ing, ev, { criterion });
    const greedy = await greedySoup(ing, ev, { criterion });
    const best = Math.max(...greedy.ingredientMetrics.map((m) => criterionScore(m, criterion)));
    expect(criterionScore(greedy.heldOut, criterion)).toBeGreaterThanOrEqual(best);
    expect(greedy.order.length).toBe(3);
    expect(greedy.coefficients.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    // The result's metrics are those of its own soup.
    expect(await evaluateSoup(soupModel(ing, greedy.state), ev)).toEqual(greedy.heldOut);

    const two = ingredientsFromModels([copyOf(ftClean, mlp2), copyOf(ftRobust, mlp2)]);
    const grid = await gridSoup(two, ev, { criterion: 'robust' });
    expect(grid.points.length).toBe(21);
    const ends = [await evaluateSoup(two.models[0]!, ev), await evaluateSoup(two.models[1]!, ev)];
    expect(grid.points[0]!.metrics).toEqual(ends[0]);
    expect(grid.points[20]!.metrics).toEqual(ends[1]);
    expect(grid.heldOut.robust).toBe(Math.max(...grid.points.map((p) => p.metrics.robust)));
    const simplex = await gridSoup(ing, ev, { step: 0.5 });
    expect(simplex.points.length).toBe(6);
    const interp = await interpolationSoup(ing, ev, { pair: [2, 1], step: 0.25 });
    expect(interp.points.map((p) => p.coefficients)).toEqual([[0, 0, 1], [0, 0.25, 0.75], [0, 0.5, 0.5], [0, 0.75, 0.25], [0, 1, 0]]);
    console.log(`uniform ${pct(uniform.heldOut)} (${uniform.wallMs.toFixed(0)} ms); greedy ${pct(greedy.heldOut)} members [${greedy.members}] (${greedy.wallMs.toFixed(0)} ms); `
      + `grid K=2 ${pct(grid.heldOut)} at [${grid.coefficients.map((c) => c.toFixed(2))}] (21 points, ${grid.wallMs.toFixed(0)} ms); ingredients ${ends.map(pct).join(', ')}`);
    for (const r of [uniform, greedy, grid, simplex, interp]) disposeResult(r);
    ing.dispose();
    two.dispose();
  });
});
