/**
 * SGD against a float64 reimplementation of PyTorch's update rule (test/engine/optim/reference.ts): several
 * steps with momentum, dampening, Nesterov and weight decay; parameter groups; skipped parameters; one
 * in-place dispatch per parameter; the state dict; argument errors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import type { Tensor } from '../../../engine/tensor.js';
import * as o from '../../../engine/ops/index.js';
import { SGD, type SgdOptions } from '../../../engine/optim/index.js';
import { RefSGD, setGrads, expectParams } from './reference.js';

const dev = useDevice();

const SHAPES = [[3, 5], [7], [1]];

function draw(rng: CpuRandom, n: number, zeros = 0.2): number[] {
  return Array.from({ length: n }, () => (rng.next() < zeros ? 0 : Math.fround(rng.normal())));
}

/** Parameters (GPU and float64 copies) and a sequence of gradients for each step. */
function setup(seed: number, steps: number) {
  const rng = new CpuRandom(seed);
  const init = SHAPES.map((s) => draw(rng, s.reduce((a, b) => a * b, 1), 0));
  const params = init.map((v, i) => tensor(v, SHAPES[i]!));
  const grads = Array.from({ length: steps }, () => init.map((v) => draw(rng, v.length)));
  return { init, params, grads };
}


describe('SGD', () => {
  it.each<[string, Partial<SgdOptions> & { lr: number }]>([
    ['plain', { lr: 0.1 }],
    ['weight decay', { lr: 0.05, weightDecay: 0.1 }],
    ['momentum', { lr: 0.1, momentum: 0.9 }],
    ['momentum, dampening and weight decay', { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 5e-2 }],
    ['nesterov with weight decay', { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }],
  ])('%s: 5 steps match the float64 reference of PyTorch\'s rule', async (_, h) => {
    const { init, params, grads } = setup(1, 5);
    const opt = new SGD(params, h);
    const ref = new RefSGD(init.map((v) => [...v]), h);
    for (const [k, g] of grads.entries()) {
      setGrads(params, g);
      opt.step();
      ref.step(g);
      await expectParams(params, ref.params, `step ${k + 1}`);
    }
    opt.dispose();
  });

  it('parameter groups override the defaults (no weight decay on the bias group, its own lr)', async () => {
    const { init, params, grads } = setup(2, 3);
    const defaults = { lr: 0.1, momentum: 0.9, weightDecay: 0.1 };
    const opt = new SGD([{ params: [params[0]!] }, { params: [params[1]!, params[2]!], weightDecay: 0, lr: 0.02 }], defaults);
    expect(opt.paramGroups.map((g) => [g.lr, g.weightDecay, g.momentum])).toEqual([[0.1, 0.1, 0.9], [0.02, 0, 0.9]]);
    const refW = new RefSGD([[...init[0]!]], defaults);
    const refB = new RefSGD([[...init[1]!], [...init[2]!]], { ...defaults, weightDecay: 0, lr: 0.02 });
    for (const g of grads) {
      setGrads(params, g);
      opt.step();
      refW.step([g[0]!]);
      refB.step([g[1]!, g[2]!]);
    }
    await expectParams(params, [...refW.params, ...refB.params], 'after 3 steps');
  });

  it('skips parameters without a gradient, and their momentum starts at their own first gradient', async () => {
    const { init, params, grads } = setup(3, 3);
    const h = { lr: 0.1, momentum: 0.9, dampening: 0.5 };
    const opt = new SGD(params, h);
    const ref = new RefSGD(init.map((v) => [...v]), h);
    const masked = [[grads[0]![0]!, null, grads[0]![2]!], [grads[1]![0]!, grads[1]![1]!, null], grads[2]!];
    for (const g of masked) {
      setGrads(params, g);
      opt.step();
      ref.step(g);
    }
    await expectParams(params, ref.params, 'after 3 steps');
  });

  it('updates in place with one dispatch per parameter that has a gradient, and bumps the storage version', () => {
    const { params, grads } = setup(4, 1);
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9, nesterov: true });
    setGrads(params, [grads[0]![0]!, null, grads[0]![2]!]);
    const buffers = params.map((p) => p.storage.buffer);
    const versions = params.map((p) => p.storage.version);
    const before = dev().stats().dispatches;
    opt.step();
    expect(dev().stats().dispatches - before).toBe(2);
    opt.step();
    expect(dev().stats().dispatches - before).toBe(4);
    expect(params.map((p) => p.storage.buffer)).toEqual(buffers);
    expect(params.map((p, i) => p.storage.version - versions[i]!)).toEqual([2, 0, 2]);
  });

  it('a backward through a tensor saved before the step refuses to run (modified in place)', () => {
    const w = tensor([1, 2, 3]);
    w.requiresGrad = true;
    const loss = o.sum(o.mul(w, w));
    w.grad = tensor([1, 1, 1]);
    new SGD([w], { lr: 0.1 }).step();
    expect(() => loss.backward()).toThrow(/modified in place/);
  });

  it('setLr and a group\'s lr change the next step; zeroGrad disposes the gradients', async () => {
    const p = tensor([1, 1]);
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = tensor([1, 2]);
    opt.setLr(0.5);
    opt.step();
    expectClose(await p.read(), [0.5, 0]);
    opt.paramGroups[0]!.lr = 0.25;
    opt.step();
    expectClose(await p.read(), [0.25, -0.5]);
    const g = p.grad;
    opt.zeroGrad();
    expect(p.grad).toBeNull();
    expect(g.disposed).toBe(true);
  });

  it('stateDict / loadStateDict: a fresh optimizer resumes exactly where the first one was', async () => {
    const { init, params, grads } = setup(5, 4);
    const h = { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 };
    const a = new SGD(params, h);
    const ref = new RefSGD(init.map((v) => [...v]), h);
    for (const g of grads.slice(0, 2)) { setGrads(params, g); a.step(); ref.step(g); }
    const sd = a.stateDict();
    expect(sd.param_groups).toEqual([{ lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 1e-2, nesterov: false, params: [0, 1, 2] }]);
    expect(Object.keys(sd.state)).toEqual(['0', '1', '2']);
    expect(sd.state[0]!.step).toBe(2);
    const b = new SGD(params, { lr: 1 });
    b.loadStateDict(sd);
    a.dispose();
    expect(b.paramGroups[0]!.momentum).toBe(0.9);
    for (const g of grads.slice(2)) { setGrads(params, g); b.step(); ref.step(g); }
    await expectParams(params, ref.params, 'after 2 + 2 steps');
  });

  it('refuses bad arguments, naming them', () => {
    const p = tensor([1, 2]);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(/SGD: got an empty parameter list/);
    expect(() => new SGD([p], { lr: -1 })).toThrow(/SGD: options: lr must be a finite number >= 0, got -1/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires a momentum > 0 and zero dampening/);
    expect(() => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 })).toThrow(/param group 1: params\[0\] .* appears more than once/);
    expect(() => new SGD([{ params: [p], weight_decay: 0 } as never], { lr: 0.1 })).toThrow(/param group 0: unknown option 'weight_decay'/);
    expect(() => new SGD([{ params: [p], momentum: -0.5 }], { lr: 0.1 })).toThrow(/param group 0: momentum must be a finite number >= 0, got -0.5/);
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = tensor([1, 2, 3]);
    expect(() => opt.step()).toThrow(/SGD.step: the gradient of tensor #\d+ has shape \[3\], expected the parameter's \[2\]/);
    expect(() => opt.loadStateDict({ state: {}, param_groups: [] })).toThrow(/1 parameter groups|0 parameter groups/);
  });

  it('checkStateDict refuses a malformed state dict with a named reason and changes nothing; shapes suffice', async () => {
    const a = tensor([1, 2]);
    const b = tensor([[1, 2, 3]]);
    const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
    const buf = (shape: number[]) => ({ shape, dtype: 'float32' as const });
    const sd = (state: unknown, params: unknown = [0, 1]) => ({ state, param_groups: [{ params, lr: 0.2 }] }) as never;
    opt.checkStateDict(sd({ 0: { step: 2, momentum_buffer: buf([2]) }, 1: { momentum_buffer: buf([1, 3]) } }));
    expect(() => opt.checkStateDict(sd({ 0: null }))).toThrow(/SGD\.loadStateDict: state\[0\]: expected an object of state, got null/);
    expect(() => opt.checkStateDict(sd({ '01': { step: 1 } }))).toThrow(/state\[01\] names no parameter/);
    expect(() => opt.checkStateDict(sd({ 1: { momentum_buffer: buf([3]) } }))).toThrow(/state\[1\]\.momentum_buffer: float32 \[1, 3\] expected .* got float32 \[3\]/);
    expect(() => opt.checkStateDict(sd({ 1: { momentum_buffer: 'zeros' } }))).toThrow(/state\[1\]\.momentum_buffer: expected a Tensor/);
    expect(() => opt.checkStateDict(sd({}, [0, 0]))).toThrow(/param_groups\[0\]\.params\[1\]: index 0 appears more than once/);
    expect(() => opt.checkStateDict(sd({}, [0, 1.5]))).toThrow(/param_groups\[0\]\.params\[1\]: expected a parameter index/);
    expect(() => opt.checkStateDict({ state: {}, param_groups: [null] } as never)).toThrow(/param_groups\[0\]: expected \{ params/);
    // A refused load keeps the hyperparameters and the (empty) state.
    expect(() => opt.loadStateDict(sd({ 1: { momentum_buffer: tensor([1, 2, 3]) } }))).toThrow(/momentum_buffer/);
    expect(opt.paramGroups[0]!.lr).toBe(0.1);
    expect(opt.stateDict().state).toEqual({});
    opt.dispose();
    [a, b].forEach((t) => t.dispose());
  });
});
