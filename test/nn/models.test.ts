import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { buildModel, ResNet18, PreActResNet18, WideResNet } from '../../nn/models/index.js';
import { loadCheckpoint } from '../../nn/checkpoint.js';
import { readSafetensors } from '../../nn/safetensors.js';
import { tensor } from '../../engine/create.js';
import { noGrad } from '../../engine/tape.js';
import { scope } from '../../engine/scope.js';
import { Generator } from '../../engine/rng.js';
import type { Module } from '../../nn/module.js';

const dev = useDevice();
const fx = join(import.meta.dirname, '../fixtures/models');
const counts = JSON.parse(readFileSync(join(fx, 'param_counts.json'), 'utf8')) as { counts: Record<string, number>; keys: Record<string, [string, number[]][]> };

describe('model definitions match the reference PyTorch ones', () => {
  it.each(Object.entries(counts.counts))('%s has %i parameters, as PyTorch counts them', (name, n) => {
    const m = buildModel(name, { generator: new Generator(0) });
    try {
      expect(m.numParameters()).toBe(n);
      if (counts.keys[name]) expect(m.stateDict().map(([k, t]) => [k, [...t.shape]])).toEqual(counts.keys[name]);
    } finally {
      m.dispose();
    }
  });
});

type Expected = { eval_logits: { data: number[] }; train_logits: { data: number[] }; train_first_bn: { name: string; running_mean: number[]; running_var: number[]; num_batches_tracked: number } };

const SMALL: [string, () => Module][] = [
  ['resnet18_w8', () => new ResNet18({ width: 8 })],
  ['preact_resnet18_w8', () => new PreActResNet18({ width: 8 })],
  ['wrn-16-1', () => new WideResNet({ depth: 16, widenFactor: 1 })],
];

describe('forward outputs equal PyTorch on the same weights', () => {
  const x = readSafetensors(join(fx, 'input.safetensors')).tensors.get('x')!;
  it.each(SMALL)('%s in eval and in train mode (batch statistics, running-stat update)', async (name, make) => {
    const m = make();
    const want = JSON.parse(readFileSync(join(fx, `${name}.expected.json`), 'utf8')) as Expected;
    try {
      loadCheckpoint(join(fx, `${name}.safetensors`), m);
      const input = tensor(x.data as Float32Array, x.shape);
      // Eval logits reach ~36 here (the fixture's BN statistics are far from the activations): rtol matters.
      const evalOut = noGrad(() => scope(() => m.eval().forward(input)));
      expectClose(await evalOut.read(), want.eval_logits.data, 1e-4, 1e-4, `${name} eval logits`);
      const trainOut = noGrad(() => scope(() => m.train().forward(input)));
      expectClose(await trainOut.read(), want.train_logits.data, 1e-4, 1e-4, `${name} train logits`);
      const bn = new Map(m.stateDict());
      const p = want.train_first_bn.name;
      expectClose(await bn.get(`${p}.running_mean`)!.read(), want.train_first_bn.running_mean, 1e-5, 1e-4, `${p}.running_mean`);
      expectClose(await bn.get(`${p}.running_var`)!.read(), want.train_first_bn.running_var, 1e-5, 1e-4, `${p}.running_var`);
      expect(await bn.get(`${p}.num_batches_tracked`)!.item()).toBe(want.train_first_bn.num_batches_tracked);
      [input, evalOut, trainOut].forEach((t) => t.dispose());
    } finally {
      m.dispose();
    }
  });
});

describe('WideResNet-16-4 on CIFAR-sized images', () => {
  it('runs forward and backward on a batch of 8 with flat memory', async () => {
    const m = new WideResNet({ depth: 16, widenFactor: 4, generator: new Generator(1) });
    const step = () => scope(() => {
      const x = tensor(new Float32Array(8 * 3 * 32 * 32).map((_, i) => ((i * 7919) % 255) / 255), [8, 3, 32, 32]);
      const y = tensor(Int32Array.from({ length: 8 }, (_, i) => i % 10), [8]);
      const loss = crossEntropyOf(m, x, y);
      loss.backward();
      m.zeroGrad();
      return loss.detach();
    });
    try {
      // A warm-up step fills the buffer pool's size classes; after that nothing may grow.
      for (let i = 0; i < 1; i++) {
        const l = step();
        expect(Number.isFinite(await l.item())).toBe(true);
        l.dispose();
      }
      const before = dev().stats();
      // Each step ends with a readback (as a loop printing its loss does), so submit boundaries fall at
      // the same places every step and the pool's high-water mark repeats.
      for (let i = 0; i < 2; i++) {
        const l = step();
        await l.item();
        l.dispose();
      }
      const after = dev().stats();
      expect(after.liveTensors).toBe(before.liveTensors);
      expect(after.liveBytes).toBe(before.liveBytes);
      expect(after.pooledBytes).toBe(before.pooledBytes);
    } finally {
      m.dispose();
    }
  });
});

import { crossEntropy } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
function crossEntropyOf(m: Module, x: Tensor, y: Tensor): Tensor {
  return crossEntropy(m.train().forward(x), y);
}
