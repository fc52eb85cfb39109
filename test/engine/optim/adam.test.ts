/**
 * Adam and AdamW against a float64 reimplementation of PyTorch's rules (test/engine/optim/reference.ts):
 * several steps with L2 vs decoupled weight decay, amsgrad, zero gradients, parameter groups, parameters
 * that skip steps (their own step count), one dispatch per parameter, and the state dict.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import type { Tensor } from '../../../engine/tensor.js';
import { Adam, AdamW, type AdamOptions } from '../../../engine/optim/index.js';
import { RefAdam, setGrads, expectParams } from './reference.js';

const dev = useDevice();
const SHAPES = [[4, 6], [5], [1]];

function draw(rng: CpuRandom, n: number, zeros: number, scale = 1): number[] {
  return Array.from({ length: n }, () => (rng.next() < zeros ? 0 : Math.fround(rng.normal() * scale)));
}

/** Gradients vary in scale from step to step (so the moments matter), with some exact zeros. */
function setup(seed: number, steps: number) {
  const rng = new CpuRandom(seed);
  const init = SHAPES.map((s) => draw(rng, s.reduce((a, b) => a * b, 1), 0));
  const params = init.map((v, i) => tensor(v, SHAPES[i]!));
  const grads = Array.from({ length: steps }, (_, k) => init.map((v) => draw(rng, v.length, 0.15, [1, 0.1, 3, 0.5, 2, 0.01][k % 6])));
  return { init, params, grads };
}


describe('Adam and AdamW', () => {
  it.each<[string, 'Adam' | 'AdamW', Partial<AdamOptions>]>([
    ['Adam defaults', 'Adam', {}],
    ['Adam lr 0.01, L2 weight decay 0.1, betas (0.8, 0.99)', 'Adam', { lr: 0.01, weightDecay: 0.1, betas: [0.8, 0.99] }],
    ['Adam amsgrad, eps 1e-3', 'Adam', { lr: 0.02, amsgrad: true, eps: 1e-3 }],
    ['AdamW defaults (decoupled weight decay 0.01)', 'AdamW', { lr: 0.01 }],
    ['AdamW amsgrad, weight decay 0.5', 'AdamW', { lr: 0.05, weightDecay: 0.5, amsgrad: true }],
  ])('%s: 6 steps match the float64 reference', async (_, kind, h) => {
    const { init, params, grads } = setup(1, 6);
    const opt = kind === 'Adam' ? new Adam(params, h) : new AdamW(params, h);
    const ref = new RefAdam(init.map((v) => [...v]), { ...h, decoupled: kind === 'AdamW', weightDecay: h.weightDecay ?? (kind === 'AdamW' ? 0.01 : 0) } as never);
    for (const [k, g] of grads.entries()) {
      setGrads(params, g);
      opt.step();
      ref.step(g);
      await expectParams(params, ref.params, `step ${k + 1}`);
    }
    opt.dispose();
  });

  it('AdamW groups: weight decay only where asked, each parameter with its own step count', async () => {
    const { init, params, grads } = setup(2, 4);
    const opt = new AdamW([{ params: [params[0]!], weightDecay: 0.3 }, { params: [params[1]!, params[2]!], weightDecay: 0, lr: 0.05 }], { lr: 0.01 });
    const refW = new RefAdam([[...init[0]!]], { lr: 0.01, weightDecay: 0.3, decoupled: true });
    const refB = new RefAdam([[...init[1]!], [...init[2]!]], { lr: 0.05, weightDecay: 0, decoupled: true });
    // Parameter 2 misses steps 1 and 3: its bias corrections follow its own count.
    const masked = grads.map((g, k) => [g[0]!, g[1]!, k % 2 === 0 ? null : g[2]!]);
    for (const g of masked) {
      setGrads(params, g);
      opt.step();
      refW.step([g[0]!]);
      refB.step([g[1]!, g[2]!]);
    }
    await expectParams(params, [...refW.params, ...refB.params], 'after 4 steps');
    expect(opt.stateDict().state[2]!.step).toBe(2);
  });

  it('is one dispatch per parameter and step, the first step and amsgrad included', () => {
    const { params, grads } = setup(3, 1);
    const opt = new Adam(params, { amsgrad: true });
    setGrads(params, grads[0]!);
    const before = dev().stats().dispatches;
    opt.step();
    opt.step();
    expect(dev().stats().dispatches - before).toBe(2 * params.length);
  });

  it('keeps its state when stepped inside a scope, allocates nothing after the first step, and frees it on dispose', async () => {
    const { init, params, grads } = setup(5, 1);
    const opt = new Adam(params, { amsgrad: true, lr: 0.05 });
    const ref = new RefAdam(init.map((v) => [...v]), { amsgrad: true, lr: 0.05 });
    setGrads(params, grads[0]!);
    const base = dev().stats().liveTensors;
    const live: number[] = [];
    for (let k = 0; k < 4; k++) {
      scope(() => opt.step());
      ref.step(grads[0]!);
      live.push(dev().stats().liveTensors - base);
    }
    // exp_avg, exp_avg_sq and max_exp_avg_sq per parameter, created by the first step and kept.
    expect(live).toEqual(new Array(4).fill(3 * params.length));
    await expectParams(params, ref.params, 'after 4 steps in scopes');
    opt.dispose();
    expect(dev().stats().liveTensors - base).toBe(0);
  });

  it('stateDict / loadStateDict: a fresh optimizer resumes with the same moments and step counts', async () => {
    const { init, params, grads } = setup(4, 5);
    const h = { lr: 0.02, amsgrad: true, weightDecay: 0.05 };
    const a = new AdamW(params, h);
    const ref = new RefAdam(init.map((v) => [...v]), { ...h, decoupled: true });
    for (const g of grads.slice(0, 3)) { setGrads(params, g); a.step(); ref.step(g); }
    const sd = a.stateDict();
    expect(Object.keys(sd.state[0]!).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    expect(sd.param_groups[0]).toEqual({ lr: 0.02, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.05, amsgrad: true, params: [0, 1, 2] });
    const b = new AdamW(params);
    b.loadStateDict(sd);
    a.dispose();
    for (const g of grads.slice(3)) { setGrads(params, g); b.step(); ref.step(g); }
    await expectParams(params, ref.params, 'after 3 + 2 steps');
  });

  it('refuses bad hyperparameters and malformed state, naming them', () => {
    const p = tensor([1, 2]);
    expect(() => new Adam([p], { betas: [0.9, 1] })).toThrow(/Adam: options: betas must be two numbers in \[0, 1\), got \[0.9,1\]/);
    expect(() => new AdamW([p], { eps: -1 })).toThrow(/AdamW: options: eps must be a finite number >= 0, got -1/);
    const opt = new Adam([p]);
    expect(() => opt.loadStateDict({ state: { 0: { exp_avg: tensor([1, 2, 3]) } }, param_groups: [{ params: [0] }] }))
      .toThrow(/state\[0\].exp_avg: float32 \[2\] expected/);
    expect(() => opt.loadStateDict({ state: { 0: { momentum_buffer: tensor([1, 2]) } }, param_groups: [{ params: [0] }] }))
      .toThrow(/state\[0\].momentum_buffer: unknown state/);
    expect(() => opt.loadStateDict({ state: {}, param_groups: [{ params: [0], lr: -2 }] })).toThrow(/param_groups\[0\]: lr must be/);
  });
});
