/**
 * PGD and FGSM: the analytic optima of a linear classifier (L-inf: x + eps sign(w_other - w_y); L2:
 * x + eps (w_other - w_y)/||w_other - w_y||), budgets, every loss, monotonicity in steps and restarts on a
 * trained model, BN statistics untouched, no weight gradients, no readback, no leaks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { Generator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import type { Tensor } from '../../../engine/tensor.js';
import type { Sequential } from '../../../nn/layers/index.js';
import { pgd, fgsm } from '../../../training/attacks/pgd.js';
import { budgetExcess, budgetReport } from '../../../training/attacks/threat.js';
import { ATTACK_LOSSES, isTargeted } from '../../../training/attacks/objective.js';
import { bnNet, fashion, linearModel, trainedMlp } from './models.js';

const dev = useDevice();

/**
 * A 2-class linear model on 1x4x4 images, images inside (0.3, 0.7) (so no pixel reaches 0 or 1), and a bias
 * that keeps class 0 ahead by 3 logits after any perturbation of L-inf norm <= 0.05 or L2 norm <= 0.5: the
 * attack never succeeds, so its worst case is the loss maximiser, while p(class 1) stays large enough for a
 * float32 gradient (a huge margin would round 1 - p0 to 0).
 */
function linearCase() {
  const d = 16;
  const w0 = Array.from({ length: d }, (_, i) => Math.sin(i + 1));
  const w1 = Array.from({ length: d }, (_, i) => Math.cos(2 * i + 1));
  const dir = w1.map((v, i) => v - w0[i]!);
  const xs = Array.from({ length: 3 * d }, (_, i) => 0.3 + 0.4 * ((i * 0.618) % 1));
  const lead = Math.max(...[0, 1, 2].map((e) => dir.reduce((s, v, i) => s + v * xs[e * d + i]!, 0)));
  const reach = Math.max(0.05 * dir.reduce((s, v) => s + Math.abs(v), 0), 0.5 * Math.hypot(...dir));
  const model = linearModel([w0, w1], [3 + lead + reach, 0]);
  return { model, x: tensor(xs, [3, 1, 4, 4]), y: tensor(new Int32Array([0, 0, 0]), [3]), xs, dir };
}

async function accuracyOf(fooled: Tensor): Promise<number> {
  const f = await fooled.read();
  return 1 - Array.from(f).reduce((s, v) => s + v, 0) / f.length;
}

describe('PGD on a linear classifier reaches the analytic optimum', () => {
  it('L-inf: every pixel ends at x + eps sign(w_other - w_y)', async () => {
    const { model, x, y, xs, dir } = linearCase();
    const eps = 0.05;
    const r = pgd(model, x, y, { norm: 'linf', eps, steps: 10, generator: new Generator(1) });
    const want = xs.map((v, i) => Math.fround(v + eps * Math.sign(dir[i % 16]!)));
    expectClose(await r.xAdv.read(), want, 1e-6, 0, 'x_adv');
    expect(Array.from(await r.fooled.read())).toEqual([0, 0, 0]);
  });

  it('L2: each example ends at x + eps d/||d||, d = w_other - w_y', async () => {
    const { model, x, y, xs, dir } = linearCase();
    const eps = 0.5;
    const norm = Math.hypot(...dir);
    const r = pgd(model, x, y, { norm: 'l2', eps, steps: 10, start: 'none', generator: new Generator(1) });
    const want = xs.map((v, i) => v + (eps * dir[i % 16]!) / norm);
    expectClose(await r.xAdv.read(), want, 1e-5, 0, 'x_adv');
  });

  it('FGSM is one eps step along the gradient sign from x', async () => {
    const { model, x, y, xs, dir } = linearCase();
    const r = fgsm(model, x, y, { norm: 'linf', eps: 0.02, generator: new Generator(1) });
    expectClose(await r.xAdv.read(), xs.map((v, i) => Math.fround(v + 0.02 * Math.sign(dir[i % 16]!))), 1e-6, 0, 'x_adv');
  });
});

describe('PGD on a trained model', () => {
  let model: Sequential;
  let data: ReturnType<typeof fashion>;
  beforeAll(async () => {
    model = await trainedMlp();
    data = fashion('test', 64);
  });

  it('with every loss stays inside the ball and [0, 1], and fools more than FGSM; targeted losses need targets', async () => {
    const targets = tensor(Int32Array.from(data.labels, (l) => (l + 1) % 10), [64]);
    for (const loss of ATTACK_LOSSES) {
      const opts = { norm: 'linf' as const, eps: 0.1, steps: 10, loss, targets: isTargeted(loss) ? targets : undefined, generator: new Generator(3) };
      const r = pgd(model, data.x, data.y, opts);
      const rep = budgetReport(await budgetExcess(data.x, r.xAdv, 'linf', 0.1).read(), 0.1);
      expect(rep.ok, `${loss}: ${JSON.stringify(rep)}`).toBe(true);
      expect(await accuracyOf(r.fooled), `${loss} lowers accuracy below 60%`).toBeLessThan(0.6);
      scope(() => [r.xAdv, r.fooled, r.loss].forEach((t) => t.dispose()));
    }
    expect(() => pgd(model, data.x, data.y, { norm: 'linf', eps: 0.1, steps: 2, loss: 'dlr-targeted', generator: new Generator(0) })).toThrow(/loss 'dlr-targeted' needs targets/);
    const f = fgsm(model, data.x, data.y, { norm: 'linf', eps: 0.1, generator: new Generator(0) });
    const p = pgd(model, data.x, data.y, { norm: 'linf', eps: 0.1, steps: 20, generator: new Generator(0) });
    expect(await accuracyOf(p.fooled)).toBeLessThanOrEqual(await accuracyOf(f.fooled));
  });

  it('L2 stays in its ball too', async () => {
    const r = pgd(model, data.x, data.y, { norm: 'l2', eps: 1, steps: 10, generator: new Generator(4) });
    const rep = budgetReport(await budgetExcess(data.x, r.xAdv, 'l2', 1).read(), 1);
    expect(rep.ok, JSON.stringify(rep)).toBe(true);
    expect(await accuracyOf(r.fooled)).toBeLessThan(0.6);
  });

  it('more steps (same start, same step size) and more restarts never raise accuracy', async () => {
    const acc = async (steps: number, restarts: number) => accuracyOf(pgd(model, data.x, data.y, { norm: 'linf', eps: 0.03, steps, alpha: 0.005, restarts, generator: new Generator(9) }).fooled);
    const a5 = await acc(5, 1);
    const a20 = await acc(20, 1);
    const a20r3 = await acc(20, 3);
    expect(a20).toBeLessThanOrEqual(a5);
    expect(a20r3).toBeLessThanOrEqual(a20);
    expect(a5, 'not vacuous: the small budget leaves some examples robust').toBeGreaterThan(0);
  });

  it('records the whole attack without a readback and leaks nothing', async () => {
    const run = () => scope(() => { pgd(model, data.x, data.y, { norm: 'linf', eps: 0.1, steps: 3, restarts: 2, generator: new Generator(2) }); });
    run();
    await dev().sync();
    const before = dev().stats();
    run();
    expect(dev().stats().submissions - before.submissions, 'only the safety cap may submit').toBeLessThanOrEqual(Math.ceil((dev().stats().dispatches - before.dispatches) / 512));
    await dev().sync();
    expect(dev().stats().liveTensors).toBe(before.liveTensors);
  });
});

it('never updates BN running statistics and computes no weight gradients', async () => {
  const m = bnNet(1);
  const d = fashion('train', 16);
  const before = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  m.train();
  const r = pgd(m, d.x, d.y, { norm: 'linf', eps: 0.1, steps: 3, generator: new Generator(0) });
  await r.xAdv.read();
  const after = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  after.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(before[i]!)));
  for (const p of m.parameters()) expect(p.grad).toBeNull();
  expect(m.training, 'the model mode is restored').toBe(true);
});

it('refuses an eps above 1 in pixel space, a fractional step count, and an unknown loss, naming them', () => {
  const { model, x, y } = linearCase();
  const g = new Generator(0);
  expect(() => pgd(model, x, y, { norm: 'linf', eps: 8, steps: 10, generator: g })).toThrow(/L-inf eps above 1 .*got 8/);
  expect(() => pgd(model, x, y, { norm: 'linf', eps: 0.1, steps: 2.5, generator: g })).toThrow(/steps must be an integer >= 1, got 2\.5/);
  expect(() => pgd(model, x, y, { norm: 'linf', eps: 0.1, steps: 2, loss: 'kl' as never, generator: g })).toThrow(/loss must be one of ce, dlr/);
  expect(() => pgd(model, x, y, { norm: 'l3' as never, eps: 0.1, steps: 2, generator: g })).toThrow(/norm must be one of linf, l2, got "l3"/);
});
