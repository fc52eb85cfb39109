/** Models with known behaviour for the attack tests: linear classifiers with set weights, and a small trained MLP. */
import { tensor } from '../../../engine/create.js';
import { Generator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import type { Tensor } from '../../../engine/tensor.js';
import { Activation, BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Linear, Sequential } from '../../../nn/layers/index.js';
import { SGD } from '../../../engine/optim/index.js';
import { standardStep } from '../../../training/steps.js';
import { loadFashionMnist } from '../../../training/data/fashion_mnist.js';

/** logits = W flatten(x) + b, W [K, D]. */
export function linearModel(w: number[][], b: number[]): Sequential {
  const k = w.length;
  const d = w[0]!.length;
  const lin = new Linear(d, k, { generator: new Generator(0) });
  lin.loadStateDict(new Map([['weight', tensor(w.flat(), [k, d])], ['bias', tensor(b, [k])]]));
  return new Sequential(new Flatten(1), lin);
}

export interface Data { x: Tensor; y: Tensor; labels: Int32Array }

/** The first n Fashion-MNIST images of a split, [n, 1, 28, 28] in [0, 1]. */
export function fashion(split: 'train' | 'test', n: number, offset = 0): Data {
  const set = loadFashionMnist(split, offset + n);
  const px = 28 * 28;
  const labels = set.labels.slice(offset, offset + n);
  return { x: tensor(set.images.subarray(offset * px, (offset + n) * px), [n, 1, 28, 28]), y: tensor(labels, [n]), labels };
}

/** A small MLP (784-64-10, SiLU) trained with plain cross-entropy on 512 Fashion-MNIST images: accurate, not robust. */
export async function trainedMlp(seed = 0, steps = 60): Promise<Sequential> {
  const g = new Generator(seed);
  const m = new Sequential(new Flatten(1), new Linear(784, 64, { generator: g }), new Activation('silu'), new Linear(64, 10, { generator: g }));
  const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
  const d = fashion('train', 512);
  for (let i = 0; i < steps; i++) {
    const b = i % 4;
    scope(() => standardStep(m, opt, { x: d.x.slice(0, b * 128, (b + 1) * 128), y: d.y.slice(0, b * 128, (b + 1) * 128) }).dispose());
  }
  await d.x.device.sync();
  opt.dispose();
  d.x.dispose();
  d.y.dispose();
  m.eval();
  return m;
}

/** A tiny CNN with BatchNorm, to check that attacks never touch running statistics. */
export function bnNet(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Conv2d(1, 8, 3, { stride: 2, padding: 1, generator: g }), new BatchNorm2d(8), new Activation('silu'), new GlobalAvgPool2d(), new Linear(8, 10, { generator: g }));
}
