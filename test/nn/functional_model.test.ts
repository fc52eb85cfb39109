import { describe, expect, it } from 'vitest';
import { expectSameBits, useDevice } from '../helpers.js';
import { Activation, BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, Sequential } from '../../nn/layers/index.js';
import { FunctionalModel, functionalModel } from '../../nn/functional_model.js';
import { Generator, rand } from '../../engine/rng.js';
import { tensor } from '../../engine/create.js';
import { crossEntropy, mul, sum } from '../../engine/ops/index.js';
import { noGrad } from '../../engine/tape.js';
import { disposeTree } from '../../engine/tree.js';
import { pgd } from '../../training/attacks/pgd.js';
import type { Tensor } from '../../engine/tensor.js';

const dev = useDevice();

function bnNet(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Conv2d(1, 4, 3, { stride: 2, padding: 1, generator: g }), new BatchNorm2d(4), new Activation('silu'), new GlobalAvgPool2d(), new Linear(4, 3, { generator: g }));
}

/** net's tensors times 1.5 (int buffers as they are), as a Map keyed by state_dict names. */
function scaled(net: Sequential): Map<string, Tensor> {
  return noGrad(() => new Map(net.stateDict().map(([k, t]) => [k, t.dtype === 'float32' ? mul(t, k.endsWith('running_var') ? 2 : 1.5) : t.clone()])));
}

describe('FunctionalModel (a module view on substituted tensors)', () => {
  it('computes what a module holding the substitutes computes, and PGD attacks it identically', async () => {
    const base = bnNet(1).eval();
    const subs = scaled(base);
    const copy = bnNet(2).eval();
    copy.loadStateDict(subs);
    const view = functionalModel(base, subs);
    const x = rand([5, 1, 8, 8], { generator: new Generator(3) });
    const y = tensor([0, 1, 2, 0, 1], [5], { dtype: 'int32' });
    expectSameBits(await noGrad(() => view.forward(x)).read() as Float32Array, await noGrad(() => copy.forward(x)).read() as Float32Array, 'logits');
    const opts = { norm: 'linf' as const, eps: 0.1, steps: 3 };
    const a = pgd(view, x, y, { ...opts, generator: new Generator(4) });
    const b = pgd(copy, x, y, { ...opts, generator: new Generator(4) });
    expectSameBits(await a.xAdv.read() as Float32Array, await b.xAdv.read() as Float32Array, 'PGD points');
    expect(view.training).toBe(false);
    expect(base.namedModules().every(([, m]) => !m.training)).toBe(true);
    // The base's own tensors were never used or changed.
    const rm = base.stateDict().find(([k]) => k === '1.running_mean')![1];
    expect(Array.from(await rm.read())).toEqual([0, 0, 0, 0]);
    for (const t of [x, y, a.xAdv, a.fooled, a.loss, b.xAdv, b.fooled, b.loss]) t.dispose();
    disposeTree(subs);
    base.dispose();
    copy.dispose();
  });

  it('shows the substitutes as its state_dict and parameters, switches base modules\' modes, owns nothing', async () => {
    const base = bnNet(5);
    const w = tensor(new Float32Array(12).fill(0.5), [3, 4]);
    const view = new FunctionalModel(base, { 4: { weight: w } });
    expect(view.stateDict().map(([k]) => k)).toEqual(base.stateDict().map(([k]) => k));
    expect(view.stateDict().find(([k]) => k === '4.weight')![1]).toBe(w);
    expect(view.namedParameters('m').find(([k]) => k === 'm.4.weight')![1]).toBe(w);
    expect(view.stateDict().find(([k]) => k === '4.bias')![1]).toBe(base.stateDict().find(([k]) => k === '4.bias')![1]);
    view.eval();
    expect(base.namedModules().map(([, m]) => m.training)).toEqual(base.namedModules().map(() => false));
    view.train();
    expect(base.training).toBe(true);
    expect(() => view.loadStateDict(new Map())).toThrow(/holds no tensors of its own/);
    const live = dev().stats().liveTensors;
    view.dispose();
    expect(dev().stats().liveTensors).toBe(live);
    expect(w.disposed).toBe(false);
    w.dispose();
    base.dispose();
  });

  it('differentiates into the substitutes, and a nested substitution wins over the view\'s own', async () => {
    const base = new Linear(2, 1, { bias: false, generator: new Generator(0) });
    const w = tensor([[3, 4]]);
    w.requiresGrad = true;
    const view = functionalModel(base, new Map([['weight', w]]));
    const x = tensor([[1, 2]]);
    const out = sum(view.forward(x));
    expect(await out.item()).toBe(11);
    out.backward();
    expect(Array.from(await w.grad!.read())).toEqual([1, 2]);
    const w2 = tensor([[10, 0]]);
    expect(await noGrad(() => view.functionalCall({ weight: w2 }, () => sum(view.forward(x)))).item()).toBe(10);
    expect(await noGrad(() => sum(view.forward(x))).item()).toBe(11);
    const loss = noGrad(() => crossEntropy(view.forward(x), tensor([0], [1], { dtype: 'int32' })));
    expect(await loss.item()).toBe(0);
    for (const t of [w, w2, x, out, loss]) t.dispose();
    base.dispose();
  });

  it('refuses a substitute with an unknown name, another shape or another dtype, naming it', () => {
    const base = new Linear(2, 3, { generator: new Generator(0) });
    const bad = tensor([1, 2]);
    expect(() => functionalModel(base, { wieght: bad })).toThrow(/no parameter or buffer named 'wieght'/);
    expect(() => functionalModel(base, { bias: bad })).toThrow(/'bias' has shape \[3\], the substitute \[2\]/);
    const int = tensor([1, 2, 3], [3], { dtype: 'int32' });
    expect(() => functionalModel(base, { bias: int })).toThrow(/'bias' is float32, the substitute int32/);
    bad.dispose();
    int.dispose();
    base.dispose();
  });
});
