import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { Linear, Sequential, Activation, BatchNorm2d, Conv2d, parseActivation } from '../../nn/layers/index.js';
import { ResNet18 } from '../../nn/models/index.js';
import { Generator } from '../../engine/rng.js';
import { tensor, full } from '../../engine/create.js';
import { sum } from '../../engine/ops/index.js';
import { scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import { functionalCall } from '../../nn/module.js';

useDevice();

describe('modules', () => {
  it('name parameters and buffers as PyTorch state_dict keys, in PyTorch order', () => {
    const m = new Sequential(new Conv2d(3, 4, 3, { bias: false }), new BatchNorm2d(4), new Linear(4, 2));
    expect(m.stateDict().map(([k]) => k)).toEqual(['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '2.weight', '2.bias']);
    expect(m.namedParameters().map(([k]) => k)).toEqual(['0.weight', '1.weight', '1.bias', '2.weight', '2.bias']);
    m.dispose();
  });

  it('initialise Linear/Conv2d as PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), reproducibly from a seed', async () => {
    const a = new Linear(50, 40, { generator: new Generator(3) });
    const b = new Linear(50, 40, { generator: new Generator(3) });
    const w = Array.from(await a.stateDict()[0]![1].read());
    expect(w).toEqual(Array.from(await b.stateDict()[0]![1].read()));
    const bound = 1 / Math.sqrt(50);
    expect(w.every((v) => Math.abs(v) <= bound)).toBe(true);
    // The spread fills the interval: the std of U(-b, b) is b/sqrt(3).
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(Math.abs(std - bound / Math.sqrt(3))).toBeLessThan(0.1 * bound);
    a.dispose();
    b.dispose();
  });

  it('switch train/eval recursively, and freeze parameters by prefix', () => {
    const m = new Sequential(new Linear(3, 3), new Sequential(new Linear(3, 2)));
    m.eval();
    expect(m.namedModules().every(([, c]) => !c.training)).toBe(true);
    m.train().requiresGrad(false, '1');
    expect(m.namedParameters().map(([k, t]) => [k, t.requiresGrad])).toEqual([['0.weight', true], ['0.bias', true], ['1.0.weight', false], ['1.0.bias', false]]);
    m.dispose();
  });

  it('functionalCall evaluates on substituted weights and differentiates into them, then restores', async () => {
    const m = new Linear(2, 1, { bias: false });
    const w2 = full([1, 2], 3);
    w2.requiresGrad = true;
    const x = tensor([[1, 2]]);
    const y = m.functionalCall(new Map([['weight', w2]]), () => sum(m.forward(x)));
    expect(await y.item()).toBe(9);
    y.backward();
    expectClose(await w2.grad!.read(), [1, 2]);
    const again = noGrad(() => m.forward(x));
    expect(await again.item()).not.toBe(9);
    m.dispose();
  });

  it('functionalCall takes any tensor tree keyed by state_dict paths, and names a wrong key', async () => {
    const m = new Sequential(new Linear(2, 1, { bias: true }));
    const x = tensor([[1, 2]]);
    const w = full([1, 2], 3);
    const b = full([1], 1);
    const nested = await functionalCall(m, { 0: { weight: w, bias: b } }, x).item();
    const flat = await functionalCall(m, new Map([['0.weight', w], ['0.bias', b]]), x).item();
    expect([nested, flat]).toEqual([10, 10]);
    expect(() => functionalCall(m, { 0: { wieght: w } }, x)).toThrow(/no parameter or buffer named '0\.wieght'/);
    expect(m.stateDict()[0]![1]).not.toBe(w);
    m.dispose();
  });

  it('loadStateDict copies in place and refuses mismatches with every problem named', async () => {
    const m = new Linear(2, 2);
    const w = m.stateDict()[0]![1];
    m.loadStateDict(new Map([['weight', tensor([[1, 2], [3, 4]])], ['bias', tensor([0, 0])]]));
    expect(m.stateDict()[0]![1]).toBe(w);
    expect(Array.from(await w.read())).toEqual([1, 2, 3, 4]);
    expect(() => m.loadStateDict(new Map([['weight', tensor([1, 2])], ['extra', tensor([1])]]))).toThrow(/'weight': shape \[2\] in the checkpoint, \[2, 2\] in the model; unexpected key 'extra'; missing key 'bias'/);
    m.dispose();
  });

  it('loadStateDict accepts a state dict without num_batches_tracked only when not strict about buffers', async () => {
    const m = new BatchNorm2d(2);
    const old = new Map([['weight', tensor([2, 3])], ['bias', tensor([0, 1])], ['running_mean', tensor([0.5, 0.5])], ['running_var', tensor([4, 4])]]);
    expect(() => m.loadStateDict(old)).toThrow(/missing key 'num_batches_tracked' \(a buffer: strictBuffers: false keeps the model's value\)/);
    expect(Array.from(await m.stateDict()[0]![1].read())).toEqual([1, 1]);
    m.loadStateDict(old, { strictBuffers: false });
    expect(Array.from(await m.stateDict()[0]![1].read())).toEqual([2, 3]);
    // Parameters stay required.
    expect(() => m.loadStateDict(new Map([...old].filter(([k]) => k !== 'bias')), { strictBuffers: false })).toThrow(/missing key 'bias'$/);
    for (const t of old.values()) t.dispose();
    m.dispose();
  });

  it('the activation switch changes the activations and nothing else', async () => {
    const relu = new ResNet18({ width: 4, generator: new Generator(9) });
    const silu = new ResNet18({ width: 4, activation: 'silu', generator: new Generator(9) });
    expect(silu.stateDict().map(([k, t]) => [k, t.shape])).toEqual(relu.stateDict().map(([k, t]) => [k, t.shape]));
    const x = full([1, 3, 32, 32], 0.5);
    const [a, b] = scope(() => noGrad(() => [relu.eval().forward(x), silu.eval().forward(x)]));
    expect(Array.from(await a!.read())).not.toEqual(Array.from(await b!.read()));
    // Learnable activations add their scalar and nothing else.
    const ps = new ResNet18({ width: 4, activation: 'psoftplus' });
    expect(ps.numParameters() - relu.numParameters()).toBe(ps.namedParameters().filter(([k]) => k.endsWith('alpha')).length);
    [relu, silu, ps].forEach((m) => m.dispose());
  });

  it('activation specs parse with their argument and refuse unknown names', () => {
    expect(parseActivation('softplus:10')).toEqual({ name: 'softplus', arg: 10 });
    expect(parseActivation('relu_smoothgrad')).toEqual({ name: 'relu_smoothgrad' });
    expect(() => parseActivation('swishy')).toThrow(/'swishy' is not one of relu, softplus/);
    expect(() => new Activation('silu:3')).toThrow(/only softplus:BETA/);
    expect(parseActivation('softplus:10:5')).toEqual({ name: 'softplus', arg: 10, threshold: 5 });
    expect(() => parseActivation('elu:1:5')).toThrow(/only softplus takes a threshold/);
  });

  it('a softplus threshold set through Activation reaches the op (beta x above it gives x)', async () => {
    // beta 1, threshold 0.5: x = 1 is past the threshold (gives 1); the default threshold 20 gives log(1 + e).
    const x = tensor([1]);
    const low = await new Activation('softplus:1:0.5').forward(x).item();
    const dflt = await new Activation({ name: 'softplus', arg: 1 }).forward(x).item();
    expect(low).toBe(1);
    expect(dflt).toBeCloseTo(Math.log(1 + Math.E), 6);
  });
});

describe('summary', () => {
  it('lists leaf layers with output shapes and leaves no tensor behind', async () => {
    const { summarize } = await import('../../nn/summary.js');
    const { SmallCNN } = await import('../../nn/models/index.js');
    const { getDefaultDevice } = await import('../../engine/device.js');
    const m = new SmallCNN();
    const before = getDefaultDevice().stats().liveTensors;
    const s = summarize(m, [2, 1, 28, 28]);
    expect(getDefaultDevice().stats().liveTensors).toBe(before);
    expect(s.rows.at(-1)).toMatchObject({ name: 'features.fc', output: [2, 10] });
    // conv1 1->16 3x3 at 28x28 and conv2 16->32 3x3 at 14x14, batch 2, plus fc 32->10.
    expect(s.flops).toBe(2 * 2 * (16 * 28 * 28 * 9 + 32 * 14 * 14 * 16 * 9 + 32 * 10));
    m.dispose();
  });
});
