import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { SmallCNN } from '../../nn/models/index.js';
import { BatchNorm2d, Conv2d, Activation, GlobalAvgPool2d, Linear, Sequential } from '../../nn/layers/index.js';
import { pgdAttack } from '../../training/attacks/pgd.js';
import { tradesAttack } from '../../training/attacks/trades.js';
import { standardStep, pgdAtStep, tradesStep } from '../../training/steps.js';
import { loadFashionMnist } from '../../training/data/fashion_mnist.js';
import { SGD } from '../../engine/optim/index.js';
import { Generator } from '../../engine/rng.js';
import { tensor } from '../../engine/create.js';
import { crossEntropy, tradesKl, sub, abs, max } from '../../engine/ops/index.js';
import { noGrad } from '../../engine/tape.js';
import { scope } from '../../engine/scope.js';

const dev = useDevice();
const data = loadFashionMnist('train', 16);
const batch = () => ({ x: tensor(data.images, [16, 1, 28, 28]), y: tensor(data.labels, [16]) });
const EPS = 0.1;

/** A small CNN with BatchNorm, so attack BN modes are observable. */
function bnNet(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Conv2d(1, 8, 3, { stride: 2, padding: 1, generator: g }), new BatchNorm2d(8), new Activation('silu'), new GlobalAvgPool2d(), new Linear(8, 10, { generator: g }));
}

describe('attacks', () => {
  it('PGD raises the loss, stays in the eps-ball and [0,1], updates no BN statistics and computes no weight gradients', async () => {
    const m = bnNet(1);
    const b = batch();
    const rm = Array.from(await m.stateDict().find(([k]) => k === '1.running_mean')![1].read());
    const adv = pgdAttack(m, b.x, b.y, { eps: EPS, alpha: EPS / 4, steps: 5, generator: new Generator(2) });
    expect(m.training).toBe(true); // the attack restores the mode it found
    const [clean, attacked, dist, lo, hi] = scope(() => noGrad(() => {
      m.eval();
      return [crossEntropy(m.forward(b.x), b.y), crossEntropy(m.forward(adv), b.y), max(abs(sub(adv, b.x))), max(adv.neg()), max(adv)];
    }));
    expect(await attacked!.item()).toBeGreaterThan(await clean!.item());
    expect(await dist!.item()).toBeLessThanOrEqual(EPS + 1e-6);
    expect(-(await lo!.item())).toBeGreaterThanOrEqual(0);
    expect(await hi!.item()).toBeLessThanOrEqual(1);
    expect(Array.from(await m.stateDict().find(([k]) => k === '1.running_mean')![1].read())).toEqual(rm);
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
    m.dispose();
  });

  it('TRADES inner maximisation raises KL(p(x) || p(x\')) from its near-zero start', async () => {
    const m = bnNet(3);
    const b = batch();
    const adv = tradesAttack(m, b.x, { eps: EPS, alpha: EPS / 4, steps: 5, generator: new Generator(4) });
    const kl = scope(() => noGrad(() => { m.eval(); return tradesKl(m.forward(adv), m.forward(b.x)); }));
    expect(await kl.item()).toBeGreaterThan(1e-4);
    m.dispose();
  });
});

describe('training steps', () => {
  it.each([
    ['standard', (m: SmallCNN, o: SGD, b: { x: import('../../engine/tensor.js').Tensor; y: import('../../engine/tensor.js').Tensor }) => standardStep(m, o, b)],
    ['PGD-AT', (m: SmallCNN, o: SGD, b: { x: import('../../engine/tensor.js').Tensor; y: import('../../engine/tensor.js').Tensor }) => pgdAtStep(m, o, b, { eps: EPS, alpha: EPS / 4, steps: 2, generator: new Generator(5) })],
    ['TRADES', (m: SmallCNN, o: SGD, b: { x: import('../../engine/tensor.js').Tensor; y: import('../../engine/tensor.js').Tensor }) => tradesStep(m, o, b, { eps: EPS, alpha: EPS / 4, steps: 2, beta: 6, generator: new Generator(6) })],
  ])('%s: repeated steps on one batch lower its loss, with flat memory and one readback per printed loss', async (_, step) => {
    const m = new SmallCNN({ generator: new Generator(7) });
    const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
    const b = batch();
    const losses: number[] = [];
    let before = dev().stats();
    for (let i = 0; i < 8; i++) {
      if (i === 2) before = dev().stats();
      const l = step(m, opt, b);
      losses.push(await l.item());
      l.dispose();
    }
    const after = dev().stats();
    expect(losses[7]).toBeLessThan(losses[0]!);
    expect(after.liveTensors).toBe(before.liveTensors);
    // A step is recorded without intermediate submits: one readback per step (plus the safety cap).
    expect(after.submissions - before.submissions).toBeLessThanOrEqual(6 * 3);
    opt.dispose();
    m.dispose();
  });
});

describe('explicit randomness', () => {
  it('training steps and attacks never draw from the default generator (a resumed run cannot diverge through it)', async () => {
    const { TradesSmallCNN } = await import('../../nn/models/index.js');
    const { defaultGenerator } = await import('../../engine/rng.js');
    const g = new Generator(11);
    // TRADES' SmallCNN has dropout: its masks must come from the model's generator too.
    const m = new TradesSmallCNN({ generator: g });
    const opt = new SGD(m.parameters(), { lr: 0.01 });
    const before = defaultGenerator.getState();
    const cfg = { eps: EPS, alpha: EPS / 4, steps: 1, generator: g };
    scope(() => {
      const b = batch();
      pgdAttack(m, b.x, b.y, cfg);
      tradesAttack(m, b.x, cfg);
      standardStep(m, opt, b);
      pgdAtStep(m, opt, b, cfg);
      tradesStep(m, opt, b, { ...cfg, beta: 6 });
    });
    await dev().sync();
    expect(defaultGenerator.getState()).toEqual(before);
    expect(g.getState().offset, 'the run generator did the drawing').toBeGreaterThan(0);
    // The check can fail: a dropout layer built without a generator draws its masks from the default one.
    const { Dropout } = await import('../../nn/layers/index.js');
    scope(() => new Dropout(0.5).train().forward(batch().x));
    expect(defaultGenerator.getState()).not.toEqual(before);
    m.dispose();
    opt.dispose();
  });
});
