/**
 * BatchNorm statistics for a soup (METHODS §7.5): the running mean and variance mixed with the coefficients
 * are not the statistics of the mixed network. recomputeBn replaces them with the cumulative average over N
 * training images (each batch weighted by its size, as PyTorch's update_bn with momentum=None), computed in
 * train mode without gradients: on clean images, or on clean images and their PGD points (generated against
 * the soup with its interpolated statistics, BN in eval mode), matching how the ingredients were trained.
 * The soup's parameters are untouched; num_batches_tracked counts the batches of the pass.
 */
import { full } from '../../engine/create.js';
import { Generator } from '../../engine/rng.js';
import { scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { BatchNorm2d } from '../../nn/layers/batch_norm.js';
import { pgdAttack, type AttackConfig } from '../attacks/pgd.js';
import { checkPositiveInt, countOf, resolveExamples, type Examples } from '../data/image_set.js';
import { evalBatches } from '../data/loader.js';
import { permutation } from '../data/shuffle.js';
import { soupModel } from './assemble.js';
import { SoupError, type Ingredients } from './ingredients.js';
import { evaluateSoup, type SoupEvaluation, type SoupMetrics } from './metric.js';
import type { BnStatistics, SoupResult } from './result.js';

export interface BnRecomputeOptions {
  /** The training split the images come from (never the held-out or test split). */
  examples: Examples;
  /** How many images: the first N of the split's seeded random order. */
  images: number;
  data?: 'clean' | 'clean+adversarial';
  /** The PGD that makes the adversarial images ('clean+adversarial' only). */
  attack?: Omit<AttackConfig, 'generator'>;
  batchSize?: number;
  /** Chooses the images and the attack's random starts (default 0). */
  seed?: number;
}

/** Replaces the BN running statistics in `soup` (in place; the old tensors are disposed) and says what was done. */
export function recomputeBn(ing: Ingredients, soup: Map<string, Tensor>, o: BnRecomputeOptions): BnStatistics {
  const data = o.data ?? 'clean';
  if (data !== 'clean' && data !== 'clean+adversarial') throw new SoupError(`recomputeBn: data must be 'clean' or 'clean+adversarial', got ${JSON.stringify(data)}`);
  if (data === 'clean+adversarial' && !o.attack) throw new SoupError("recomputeBn: data 'clean+adversarial' needs attack settings (eps, alpha, steps)");
  const images = checkPositiveInt('recomputeBn: images', o.images);
  const { set, indices } = resolveExamples(o.examples);
  if (images > indices.length) throw new SoupError(`recomputeBn: ${images} images requested, the split has ${countOf(o.examples)}`);
  const bns = ing.template.namedModules().filter((e): e is [string, BatchNorm2d] => e[1] instanceof BatchNorm2d);
  if (bns.length === 0) return { kind: 'none' };

  const seed = o.seed ?? 0;
  const order = permutation(indices.length, seed, 'epochOrder', 0);
  const chosen = { set, indices: Int32Array.from(order.subarray(0, images), (j) => indices[j]!) };
  const fresh = new Map<string, Tensor>();
  const device = ing.template.device;
  for (const [path, bn] of bns) {
    fresh.set(`${path}.running_mean`, full([bn.numFeatures], 0, { device }));
    fresh.set(`${path}.running_var`, full([bn.numFeatures], 1, { device }));
    fresh.set(`${path}.num_batches_tracked`, full([], 0, { device, dtype: 'int32' }));
  }
  const attackModel = soupModel(ing, soup);
  const statsModel = soupModel(ing, new Map([...soup, ...fresh]));
  const generator = new Generator(seed);
  const saved = bns.map(([, bn]) => bn.momentum);
  const modes = ing.template.namedModules().map(([, m]) => [m, m.training] as const);
  let seen = 0;
  try {
    for (const b of evalBatches(chosen, { batchSize: o.batchSize ?? 128, device })) {
      scope(() => {
        const inputs = [b.x];
        if (data === 'clean+adversarial') inputs.push(pgdAttack(attackModel, b.x, b.y, { ...o.attack!, bnMode: 'eval', generator }));
        statsModel.train();
        for (const x of inputs) {
          seen += x.shape[0]!;
          for (const [, bn] of bns) bn.momentum = x.shape[0]! / seen;
          noGrad(() => statsModel.forward(x));
        }
        statsModel.eval();
      });
      b.x.dispose();
      b.y.dispose();
    }
  } catch (e) {
    for (const t of fresh.values()) t.dispose();
    throw e;
  } finally {
    bns.forEach(([, bn], i) => { bn.momentum = saved[i]!; });
    for (const [m, t] of modes) m.training = t;
  }
  for (const [name, t] of fresh) {
    soup.get(name)!.dispose();
    soup.set(name, t);
  }
  return { kind: 'recomputed', images, data };
}

/**
 * recomputeBn on a soup method's result, then its held-out metrics again: `result.bn` says which statistics
 * it now uses, and `heldOutInterpolatedBn` keeps the metrics it had before.
 */
export async function recomputeResultBn(ing: Ingredients, r: SoupResult, o: BnRecomputeOptions, heldOut: SoupEvaluation): Promise<SoupResult & { heldOutInterpolatedBn?: SoupMetrics }> {
  const t0 = performance.now();
  const bn = recomputeBn(ing, r.state, o);
  if (bn.kind === 'none') return r;
  const before = r.heldOut;
  const out = Object.assign(r, { bn, heldOutInterpolatedBn: before, heldOut: await evaluateSoup(soupModel(ing, r.state), heldOut) });
  out.wallMs += performance.now() - t0;
  return out;
}
