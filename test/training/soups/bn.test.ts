import { describe, expect, it } from 'vitest';
import { expectClose, useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import { noGrad } from '../../../engine/tape.js';
import type { Conv2d } from '../../../nn/layers/index.js';
import { pixelsOf } from '../../../training/data/image_set.js';
import { permutation } from '../../../training/data/shuffle.js';
import { ingredientsFromModels } from '../../../training/soups/ingredients.js';
import { disposeSoup, soupOf } from '../../../training/soups/assemble.js';
import { recomputeBn, recomputeResultBn } from '../../../training/soups/bn.js';
import { fixedSoup } from '../../../training/soups/fixed.js';
import { describeBn, disposeResult } from '../../../training/soups/result.js';
import { bnNet, data, EPS, heldOutEval, mlp, train } from './fixtures.js';

const dev = useDevice();

/** Per-channel mean and unbiased variance of conv outputs [n, C, H, W] (float64). */
function channelStats(v: Float32Array, n: number, C: number, HW: number): { mean: number[]; variance: number[] } {
  const mean: number[] = [];
  const variance: number[] = [];
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < HW; j++) s += v[(i * C + c) * HW + j]!;
    const m = s / (n * HW);
    let q = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < HW; j++) q += (v[(i * C + c) * HW + j]! - m) ** 2;
    mean.push(m);
    variance.push(q / (n * HW - 1));
  }
  return { mean, variance };
}

describe('BatchNorm statistics of a soup', () => {
  it('recomputed on N clean training images: the size-weighted average of the batch statistics of the souped network', async () => {
    const ing = ingredientsFromModels([train(bnNet(1), { steps: 5, seed: 1 }), train(bnNet(2), { steps: 5, seed: 2 })]);
    const soup = soupOf(ing, [0.4, 0.6]);
    const ingredientMean = Array.from(await ing.tensors('1.running_mean')[0]!.read());
    const interpolated = Array.from(await soup.get('1.running_mean')!.read());
    const live = dev().stats().liveTensors;
    const { train: split } = data();
    const bn = recomputeBn(ing, soup, { examples: split, images: 100, batchSize: 64, seed: 5 });
    expect(bn).toEqual({ kind: 'recomputed', images: 100, data: 'clean' });
    expect(describeBn(bn)).toBe('BatchNorm running statistics recomputed on 100 training images (clean)');
    expect(dev().stats().liveTensors).toBe(live);

    // The same images (the first 100 of the split's seeded order), through the souped conv, in float64.
    const order = permutation(split.indices.length, 5, 'epochOrder', 0);
    const px = pixelsOf(split.set);
    const x = new Float32Array(100 * px);
    for (let i = 0; i < 100; i++) x.set(split.set.images.subarray(split.indices[order[i]!]! * px, (split.indices[order[i]!]! + 1) * px), i * px);
    const conv = ing.template.namedChildren()[0]![1] as Conv2d;
    const out = scope(() => noGrad(() => conv.functionalCall({ weight: soup.get('0.weight')!, bias: soup.get('0.bias')! }, () => conv.forward(tensor(x, [100, 1, 28, 28])))));
    const v = (await out.read()) as Float32Array;
    out.dispose();
    const [b1, b2] = [channelStats(v.subarray(0, 64 * 6 * 196), 64, 6, 196), channelStats(v.subarray(64 * 6 * 196), 36, 6, 196)];
    const all = channelStats(v, 100, 6, 196);
    expectClose(await soup.get('1.running_mean')!.read(), all.mean, 1e-5, 1e-4, 'running_mean (the mean over all 100 images)');
    expectClose(await soup.get('1.running_var')!.read(), b1.variance.map((s, c) => 0.64 * s + 0.36 * b2.variance[c]!), 1e-5, 1e-4, 'running_var');
    expect(Array.from(await soup.get('1.num_batches_tracked')!.read())).toEqual([2]);
    expect(Math.max(...all.mean.map((m, c) => Math.abs(m - interpolated[c]!)))).toBeGreaterThan(1e-3); // the recompute changed something
    // The ingredients are untouched, and so is the BN momentum.
    expect(Array.from(await ing.tensors('1.running_mean')[0]!.read())).toEqual(ingredientMean);
    expect(ing.template.namedModules().map(([, m]) => (m as { momentum?: number }).momentum).filter((m) => m !== undefined)).toEqual([0.1]);
    disposeSoup(soup);
    ing.dispose();
  });

  it('clean + adversarial counts both passes; a result records which statistics it uses and its held-out metrics before', async () => {
    const ing = ingredientsFromModels([train(bnNet(3), { steps: 5, seed: 3 }), train(bnNet(4), { steps: 5, seed: 4 })]);
    const heldOut = heldOutEval(100, 1);
    const r = await fixedSoup(ing, [0.5, 0.5], heldOut);
    expect(r.bn).toEqual({ kind: 'interpolated' });
    const withAdv = await recomputeResultBn(ing, r, { examples: data().train, images: 64, data: 'clean+adversarial', attack: { eps: EPS, alpha: EPS / 2, steps: 2 }, batchSize: 32 }, heldOut);
    expect(withAdv.bn).toEqual({ kind: 'recomputed', images: 64, data: 'clean+adversarial' });
    expect(withAdv.heldOutInterpolatedBn).toBeDefined();
    expect(withAdv.heldOut).not.toEqual(withAdv.heldOutInterpolatedBn);
    expect(Array.from(await r.state.get('1.num_batches_tracked')!.read())).toEqual([4]);
    expect(() => recomputeBn(ing, r.state, { examples: data().train, images: 10, data: 'clean+adversarial' })).toThrow(/needs attack settings/);
    expect(() => recomputeBn(ing, r.state, { examples: data().heldOut, images: 501 })).toThrow(/501 images requested, the split has 500/);
    disposeResult(r);
    ing.dispose();
    // A soup without BatchNorm has nothing to recompute.
    const plain = ingredientsFromModels([mlp(1), mlp(2)]);
    const soup = soupOf(plain, [0.5, 0.5]);
    expect(recomputeBn(plain, soup, { examples: data().train, images: 10 })).toEqual({ kind: 'none' });
    disposeSoup(soup);
    plain.dispose();
  });
});
