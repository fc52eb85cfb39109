/**
 * Tiny soup ingredients for the tests: MLPs (784-32-10, and 784-32-32-10 whose independently trained copies
 * clearly do not average) and a conv + BatchNorm net, trained on Fashion-MNIST slices: a clean base and its
 * fine-tunes (clean and PGD-AT: linearly connected), or bases trained independently.
 */
import { Generator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import { SGD } from '../../../engine/optim/index.js';
import { Activation, BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Linear, Sequential } from '../../../nn/layers/index.js';
import type { Module } from '../../../nn/module.js';
import { loadFashionMnist } from '../../../training/data/fashion_mnist.js';
import { splitHeldOut } from '../../../training/data/splits.js';
import { DataLoader } from '../../../training/data/loader.js';
import type { Subset } from '../../../training/data/image_set.js';
import { pgdAtStep, standardStep } from '../../../training/steps.js';
import type { SoupEvaluation } from '../../../training/soups/metric.js';

export const EPS = 0.1;

export function mlp(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Flatten(1), new Linear(784, 32, { generator: g }), new Activation('relu'), new Linear(32, 10, { generator: g }));
}

/** Two hidden layers: the midpoint of two of these trained from different seeds falls to ~40% clean accuracy (~78% at the ends). */
export function mlp2(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Flatten(1), new Linear(784, 32, { generator: g }), new Activation('relu'), new Linear(32, 32, { generator: g }), new Activation('relu'), new Linear(32, 10, { generator: g }));
}

export function bnNet(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Conv2d(1, 6, 3, { stride: 2, padding: 1, generator: g }), new BatchNorm2d(6), new Activation('relu'), new GlobalAvgPool2d(), new Linear(6, 10, { generator: g }));
}

let splits: { train: Subset; heldOut: Subset } | null = null;

/** 2500 Fashion-MNIST training images: 2000 to train on, 500 held out (stratified). */
export function data(): { train: Subset; heldOut: Subset } {
  splits ??= splitHeldOut(loadFashionMnist('train', 2500), { heldOut: 500, seed: 0 });
  return splits;
}

/** The held-out evaluation: PGD at eps 0.1 on the first `n` held-out images (one batch). */
export function heldOutEval(n = 250, steps = 2): SoupEvaluation {
  const h = data().heldOut;
  return { examples: { set: h.set, indices: h.indices.slice(0, n) }, attack: { eps: EPS, steps }, batchSize: 250, seed: 1 };
}

/** `steps` SGD steps on batches of 128 (clean, or PGD-AT with 3 steps at eps 0.1); the model ends in eval mode. */
export function train(m: Module, o: { steps: number; seed: number; lr?: number; adversarial?: boolean }): Module {
  const opt = new SGD(m.parameters(), { lr: o.lr ?? 0.1, momentum: 0.9 });
  const loader = new DataLoader(data().train, { batchSize: 128, seed: o.seed, prefetch: false });
  const g = new Generator(o.seed);
  for (let i = 0; i < o.steps; i++) {
    const b = loader.next();
    scope(() => {
      (o.adversarial ? pgdAtStep(m, opt, b, { eps: EPS, alpha: EPS / 2, steps: 3, generator: g }) : standardStep(m, opt, b)).dispose();
    });
    b.x.dispose();
    b.y.dispose();
  }
  loader.dispose();
  opt.dispose();
  return m.eval();
}

/** A copy of `m` (same architecture from `make`) with its weights. */
export function copyOf<M extends Module>(m: M, make: (seed: number) => M): M {
  const c = make(12345);
  c.loadStateDict(new Map(m.stateDict()));
  return c.eval() as M;
}
