/**
 * Sequential's relu fusions: a plain relu Activation followed by a MaxPool2d runs as max_pool2d_relu, and
 * otherwise after a Conv2d as conv2d_relu, with the values and gradients of the layers run apart; other
 * activations, and layers whose forward is hooked (nn/summary.ts), are not fused.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { Conv2d, Activation, Sequential, MaxPool2d } from '../../nn/layers/index.js';
import { Generator, rand } from '../../engine/rng.js';
import { summarize } from '../../nn/summary.js';
import { scope } from '../../engine/scope.js';
import * as o from '../../engine/ops/index.js';
import type { Kernel } from '../../kernels/kernel.js';
import type { Tensor } from '../../engine/tensor.js';

const dev = useDevice();

function kernelsOf(f: () => void): string[] {
  const d = dev();
  const seen: string[] = [];
  const orig = d.run.bind(d);
  d.run = (k: Kernel, opts: Parameters<typeof orig>[1]) => { seen.push(k.name); orig(k, opts); };
  try { f(); } finally { d.run = orig; }
  return seen;
}

describe('Sequential conv + relu fusion', () => {
  it('gives the values and gradients of conv2d then relu, with no separate activation kernel', async () => {
    const g = new Generator(5);
    const conv = new Conv2d(3, 4, 3, { padding: 1, generator: g });
    const net = new Sequential(conv, new Activation('relu'));
    const x = o.sub(rand([2, 3, 5, 5], { generator: g }), 0.5);
    let fused: { value: Tensor; grads: Tensor[] } | null = null;
    const seen = kernelsOf(() => { fused = o.valueAndGrad((t) => o.sum(o.square(net.forward(t))), [x]); });
    expect(seen).toContain('conv2d_fwd');
    expect(seen.filter((k) => k === 'activation')).toEqual([]);
    const apart = o.valueAndGrad((t) => o.sum(o.square(o.relu(conv.forward(t)))), [x]);
    expectClose(await fused!.value.read(), await apart.value.read(), 1e-5, 1e-5, 'loss');
    expectClose(await fused!.grads[0]!.read(), await apart.grads[0]!.read(), 1e-5, 1e-5, 'dx');
    const wf = await scope(() => o.grad(() => o.sum(o.square(net.forward(x))), [conv.parameters()[0]!]))[0]!.read();
    const wa = await scope(() => o.grad(() => o.sum(o.square(o.relu(conv.forward(x)))), [conv.parameters()[0]!]))[0]!.read();
    expectClose(wf, wa, 1e-5, 1e-5, 'dweight');
  });

  it('conv, relu, max-pool: the relu moves into the pool, with the values and gradients of the three apart', async () => {
    const g = new Generator(7);
    const conv = new Conv2d(2, 3, 3, { padding: 1, generator: g });
    const net = new Sequential(conv, new Activation('relu'), new MaxPool2d(2));
    const x = o.sub(rand([2, 2, 6, 6], { generator: g }), 0.5);
    let fused: { value: Tensor; grads: Tensor[] } | null = null;
    const seen = kernelsOf(() => { fused = o.valueAndGrad((t) => o.sum(o.square(net.forward(t))), [x]); });
    expect(seen.filter((k) => k === 'activation')).toEqual([]);
    expect(seen).toContain('pool_max');
    const apart = o.valueAndGrad((t) => o.sum(o.square(o.maxPool2d(o.relu(conv.forward(t)), { kernelSize: 2 }))), [x]);
    expectClose(await fused!.value.read(), await apart.value.read(), 1e-5, 1e-5, 'loss');
    expectClose(await fused!.grads[0]!.read(), await apart.grads[0]!.read(), 1e-5, 1e-5, 'dx');
  });

  it('leaves other activations and hooked layers alone', () => {
    const g = new Generator(6);
    const x = rand([1, 2, 4, 4], { generator: g });
    const silu = new Sequential(new Conv2d(2, 2, 3, { generator: g }), new Activation('silu'));
    expect(kernelsOf(() => { scope(() => { silu.forward(x); }); })).toContain('activation');
    const relu = new Sequential(new Conv2d(2, 2, 3, { generator: g }), new Activation('relu'));
    const rows = scope(() => summarize(relu, [1, 2, 4, 4]).rows);
    expect(rows.map((r) => r.type)).toEqual(['Conv2d', 'Activation']);
    const pooled = new Sequential(new Conv2d(2, 2, 3, { padding: 1, generator: g }), new Activation('relu'), new MaxPool2d(2));
    expect(scope(() => summarize(pooled, [1, 2, 4, 4]).rows).map((r) => r.type)).toEqual(['Conv2d', 'Activation', 'MaxPool2d']);
  });
});
