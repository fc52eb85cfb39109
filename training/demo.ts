/**
 * A short PGD adversarial training run (Madry) of a 784-128-10 MLP on Fashion-MNIST, written with the
 * engine's generic ops: the default job until the CNN kernels and the training CLI land. Reports clean
 * and PGD accuracy of the trained model on held-out test images.
 */
import { tensor } from '../engine/create.js';
import { randn, Generator } from '../engine/rng.js';
import { keep, scope } from '../engine/scope.js';
import { SGD } from '../engine/optim/index.js';
import { noGrad } from '../engine/tape.js';
import * as o from '../engine/ops/index.js';
import type { Device } from '../engine/device.js';
import type { Tensor } from '../engine/tensor.js';
import { loadFashionMnist, type ImageSet } from './data/fashion_mnist.js';
import { accuracy } from './losses.js';
import { pgdLinf } from './attacks/pgd.js';

export interface DemoConfig {
  steps: number; batch: number; hidden: number; lr: number; eps: number; attackSteps: number; evalAttackSteps: number;
  evalExamples: number; seed: number; logEvery: number;
}

export const DEMO_DEFAULTS: DemoConfig = {
  steps: 300, batch: 64, hidden: 128, lr: 0.02, eps: 0.1, attackSteps: 5, evalAttackSteps: 10, evalExamples: 500, seed: 0, logEvery: 20,
};

export interface DemoReport { config: DemoConfig; losses: { step: number; loss: number }[]; cleanAcc: number; pgdAcc: number; seconds: number; imagesPerSec: number }

type Params = [Tensor, Tensor, Tensor, Tensor];

function forward(p: readonly Tensor[], x: Tensor): Tensor {
  const h = o.relu(o.add(o.matmul(x, p[0]!, { transB: true }), p[1]!));
  return o.add(o.matmul(h, p[2]!, { transB: true }), p[3]!);
}

function batchOf(set: ImageSet, idx: number[], device: Device): { x: Tensor; y: Tensor; labels: Int32Array } {
  const px = set.shape[0] * set.shape[1] * set.shape[2];
  const xs = new Float32Array(idx.length * px);
  const labels = new Int32Array(idx.length);
  idx.forEach((j, i) => {
    xs.set(set.images.subarray(j * px, (j + 1) * px), i * px);
    labels[i] = set.labels[j]!;
  });
  return { x: tensor(xs, [idx.length, px], { device }), y: tensor(labels, [idx.length], { device }), labels };
}

export async function runDemo(device: Device, cfg: DemoConfig, onProgress?: (step: number, loss?: number) => void): Promise<DemoReport> {
  const train = loadFashionMnist('train', cfg.steps * cfg.batch);
  const test = loadFashionMnist('test', cfg.evalExamples);
  const gen = new Generator(cfg.seed);
  const px = 28 * 28;
  // He-normal initialisation for the ReLU layer, PyTorch-like small init for the output layer.
  // He-normal initialisation for the ReLU layer, PyTorch-like small init for the output layer.
  const params: Params = scope(() => noGrad(() => [
    keep(o.mul(randn([cfg.hidden, px], { device, generator: gen }), Math.sqrt(2 / px))),
    keep(o.zeros([cfg.hidden], { device })),
    keep(o.mul(randn([10, cfg.hidden], { device, generator: gen }), Math.sqrt(1 / cfg.hidden))),
    keep(o.zeros([10], { device })),
  ]));
  params.forEach((p) => { p.requiresGrad = true; });
  const opt = new SGD(params, { lr: cfg.lr, momentum: 0.9 });
  const attack = { eps: cfg.eps, alpha: cfg.eps / 4, steps: cfg.attackSteps, generator: gen };
  const losses: { step: number; loss: number }[] = [];
  const t0 = Date.now();
  for (let step = 1; step <= cfg.steps; step++) {
    const idx = Array.from({ length: cfg.batch }, (_, i) => (step - 1) * cfg.batch + i);
    const loss = scope(() => {
      const b = batchOf(train, idx, device);
      const adv = pgdLinf((z) => o.crossEntropy(forward(params, z), b.y), b.x, attack);
      const l = o.crossEntropy(forward(params, adv), b.y);
      l.backward();
      opt.step();
      opt.zeroGrad();
      return l.detach();
    });
    // Reading back forces a submit and a wait: only on the steps that print.
    if (step % cfg.logEvery === 0 || step === cfg.steps) {
      const l = await loss.item();
      if (!Number.isFinite(l)) {
        loss.dispose();
        params.forEach((p) => p.dispose());
        opt.dispose();
        throw new Error(`training stopped: the loss is ${l} at step ${step} (lr ${cfg.lr}); lower the learning rate`);
      }
      losses.push({ step, loss: l });
      onProgress?.(step, l);
    } else {
      onProgress?.(step);
    }
    loss.dispose();
  }
  await device.sync();
  const seconds = (Date.now() - t0) / 1000;
  const evalIdx = Array.from({ length: test.n }, (_, i) => i);
  let clean = 0;
  let robust = 0;
  for (let s = 0; s < evalIdx.length; s += 100) {
    const part = evalIdx.slice(s, s + 100);
    const { logits, advLogits, labels } = scope(() => {
      const b = batchOf(test, part, device);
      const adv = pgdLinf((z) => o.crossEntropy(forward(params, z), b.y), b.x, { ...attack, steps: cfg.evalAttackSteps, alpha: (2.5 * cfg.eps) / cfg.evalAttackSteps });
      return noGrad(() => ({ logits: forward(params, b.x), advLogits: forward(params, adv), labels: b.labels }));
    });
    clean += (await accuracy(logits, labels)) * part.length;
    robust += (await accuracy(advLogits, labels)) * part.length;
    logits.dispose();
    advLogits.dispose();
  }
  params.forEach((p) => p.dispose());
  opt.dispose();
  return { config: cfg, losses, cleanAcc: clean / test.n, pgdAcc: robust / test.n, seconds, imagesPerSec: (cfg.steps * cfg.batch) / seconds };
}
