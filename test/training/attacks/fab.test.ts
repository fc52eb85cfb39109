/**
 * FAB and FAB-T: on linear classifiers, where the smallest adversarial perturbation is known in closed form
 * (L2: x - f/||w||^2 w; L-inf: x - f/||w||_1 sign(w), f the margin's affine function), the attack finds it to
 * within FAB's overshoot and returns a point just across the boundary; on a trained model it breaks examples
 * within the budget and every output stays in the ball and [0, 1]; BN statistics untouched, no weight
 * gradients, no readback, no leaks; bad options refused by name.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { Generator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import { noGrad } from '../../../engine/tape.js';
import type { Tensor } from '../../../engine/tensor.js';
import type { Sequential } from '../../../nn/layers/index.js';
import { fab } from '../../../training/attacks/fab.js';
import { budgetExcess, budgetReport } from '../../../training/attacks/threat.js';
import { Activation, Flatten, Linear, Sequential as Seq } from '../../../nn/layers/index.js';
import { refFabProjection } from '../../../engine/ref/fab_projection.js';
import { ref } from '../../../engine/ref/tensor.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import { bnNet, fashion, linearModel, trainedMlp } from './models.js';

const dev = useDevice();

const D = 16;
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
/** Three 1x4x4 images with pixels in (0.3, 0.7): no smallest perturbation below reaches the box. */
const IMAGES = Array.from({ length: 3 * D }, (_, i) => 0.3 + 0.4 * ((i * 0.618) % 1));
const image = (e: number) => IMAGES.slice(e * D, (e + 1) * D);
const W0 = Array.from({ length: D }, (_, i) => Math.sin(i + 1));
const W1 = Array.from({ length: D }, (_, i) => Math.cos(2 * i + 1));
const W2 = Array.from({ length: D }, (_, i) => Math.cos(0.7 * i) - 0.5);

type Norm = 'linf' | 'l2';
const normOf = (v: number[], norm: Norm) => (norm === 'linf' ? Math.max(...v.map(Math.abs)) : Math.hypot(...v));

/**
 * The smallest perturbation moving x from class y across the boundary with class j (an affine f = (w_j - w_y) . x
 * + b_j - b_y < 0), when the box is not in the way: along w / ||w||^2 (L2) or sign(w) / ||w||_1 (L-inf).
 */
function analyticStep(x: number[], w: number[], bias: number, norm: Norm): number[] {
  const f = dot(w, x) + bias;
  return norm === 'l2' ? w.map((v) => (-f * v) / dot(w, w)) : w.map((v) => (-f * Math.sign(v)) / w.reduce((s, u) => s + Math.abs(u), 0));
}

async function rows(t: Tensor): Promise<number[][]> {
  const v = Array.from(await t.read());
  const n = t.shape[0]!;
  return Array.from({ length: n }, (_, e) => v.slice((e * v.length) / n, ((e + 1) * v.length) / n));
}

/**
 * Checks that each example's xAdv is the analytic minimiser up to FAB's overshoot: its norm in [1, 1 + tol]
 * times the smallest, the point within tol of the smallest norm from the analytic point, and its logits
 * across the boundary (class j ahead of y) by at most tol of the margin at x.
 */
async function expectBoundaryPoints(model: Sequential, xAdv: Tensor, want: number[][], classes: { y: number; j: number }[], norm: Norm, tol: number): Promise<void> {
  const got = await rows(xAdv);
  const z = await rows(noGrad(() => model.forward(xAdv)));
  const z0 = await rows(noGrad(() => model.forward(tensor(IMAGES.slice(0, got.length * D), [got.length, 1, 4, 4]))));
  got.forEach((g, e) => {
    const x = image(e);
    const best = normOf(want[e]!, norm);
    const found = normOf(g.map((v, i) => v - x[i]!), norm);
    expect(found / best, `example ${e}: found norm ${found} vs the smallest ${best}`).toBeGreaterThanOrEqual(1 - 1e-4);
    expect(found / best, `example ${e}: found norm ${found} vs the smallest ${best}`).toBeLessThanOrEqual(1 + tol);
    const off = normOf(g.map((v, i) => v - (x[i]! + want[e]![i]!)), norm);
    expect(off / best, `example ${e}: distance from the analytic point, relative to the smallest norm`).toBeLessThanOrEqual(tol);
    const { y, j } = classes[e]!;
    const margin = z[e]![j]! - z[e]![y]!;
    const start = z0[e]![y]! - z0[e]![j]!;
    expect(margin, `example ${e}: on the adversarial side`).toBeGreaterThan(0);
    expect(margin / start, `example ${e}: just across the boundary`).toBeLessThanOrEqual(tol);
    expect(z[e]!.indexOf(Math.max(...z[e]!)), `example ${e}: predicted class`).toBe(j);
  });
}

// FAB approaches a linear boundary from outside with its overshoot eta = 1.05 and backward step beta = 0.9:
// the iterates settle 0.5% past the boundary (a fixed point of the step), so that is as close as it gets.
const TOL = 0.01;

describe('FAB on a two-class linear classifier finds the analytic smallest perturbation', () => {
  const dots = [0, 1, 2].map((e) => dot(W1.map((v, i) => v - W0[i]!), image(e)));
  // Class 0 ahead at every image by at least 0.4.
  const bias = -Math.max(...dots) - 0.4;
  const w = W1.map((v, i) => v - W0[i]!);
  // Made inside the tests: the device exists only once they run.
  const setup = () => ({ model: linearModel([W0, W1], [0, bias]), x: tensor(IMAGES, [3, 1, 4, 4]), y: tensor(new Int32Array([0, 0, 0]), [3]) });

  for (const norm of ['l2', 'linf'] as const) {
    for (const targeted of [true, false]) {
      it(`${targeted ? 'FAB-T' : 'FAB'} ${norm}`, async () => {
        const { model, x, y } = setup();
        const want = [0, 1, 2].map((e) => analyticStep(image(e), w, bias, norm));
        want.forEach((s, e) => image(e).forEach((v, i) => expect(v + s[i]!, 'the box is not in the way').toBeGreaterThan(0.01)));
        const smallest = Math.max(...want.map((s) => normOf(s, norm)));
        const r = fab(model, x, y, { norm, eps: smallest * 1.02, steps: 20, targeted, targetClasses: 1, generator: new Generator(0) });
        expect(Array.from(await r.fooled.read())).toEqual([1, 1, 1]);
        await expectBoundaryPoints(model, r.xAdv, want, [0, 1, 2].map(() => ({ y: 0, j: 1 })), norm, TOL);
        // loss: minus the norm of the perturbation found.
        const adv = await rows(r.xAdv);
        Array.from(await r.loss.read()).forEach((l, e) => expect(l).toBeCloseTo(-normOf(adv[e]!.map((v, i) => v - image(e)[i]!), norm), 5));
      });
    }

    it(`${norm}: below the smallest norm nothing counts as broken and x comes back unchanged`, async () => {
      const { model, x, y } = setup();
      const want = [0, 1, 2].map((e) => normOf(analyticStep(image(e), w, bias, norm), norm));
      const eps = Math.min(...want) * 0.99;
      const r = fab(model, x, y, { norm, eps, steps: 20, targeted: true, targetClasses: 1, generator: new Generator(0) });
      expect(Array.from(await r.fooled.read())).toEqual([0, 0, 0]);
      expect(Array.from(await r.xAdv.read())).toEqual(Array.from(await x.read()));
      // The perturbations found (outside the budget) are still reported by their norm.
      Array.from(await r.loss.read()).forEach((l, e) => {
        expect(-l / want[e]!).toBeGreaterThanOrEqual(1 - 1e-4);
        expect(-l / want[e]!).toBeLessThanOrEqual(1 + TOL);
      });
    });
  }
});

describe('untargeted FAB on a three-class linear classifier crosses the nearest boundary', () => {
  for (const norm of ['l2', 'linf'] as const) {
    it(norm, async () => {
      // Class 0 ahead everywhere; which of classes 1 and 2 is nearer depends on the image.
      const dots1 = [0, 1, 2].map((e) => dot(W1.map((v, i) => v - W0[i]!), image(e)));
      const b1 = -Math.max(...dots1) - 0.4;
      const w1 = W1.map((v, i) => v - W0[i]!);
      const w2 = W2.map((v, i) => v - W0[i]!);
      const d2 = [0, 1, 2].map((e) => dot(w2, image(e)));
      const b2 = -Math.max(...d2) - 0.45;
      const model = linearModel([W0, W1, W2], [0, b1, b2]);
      const planes = [{ w: w1, b: b1 }, { w: w2, b: b2 }];
      const picks = [0, 1, 2].map((e) => {
        const steps = planes.map((p) => analyticStep(image(e), p.w, p.b, norm));
        const k = normOf(steps[0]!, norm) <= normOf(steps[1]!, norm) ? 0 : 1;
        return { step: steps[k]!, j: k + 1 };
      });
      expect(new Set(picks.map((p) => p.j)).size, 'not vacuous: both classes are nearest somewhere').toBe(2);
      // Where the nearest boundary is crossed, the third class stays behind (so that point is the answer).
      picks.forEach((p, e) => {
        const xs = image(e).map((v, i) => v + 1.01 * p.step[i]!);
        const z = [W0, W1, W2].map((wk, k) => dot(wk, xs) + [0, b1, b2][k]!);
        expect(z.indexOf(Math.max(...z)), `example ${e}: the nearest boundary's class wins just past it`).toBe(p.j);
      });
      const eps = Math.max(...picks.map((p) => normOf(p.step, norm))) * 1.02;
      const r = fab(model, tensor(IMAGES, [3, 1, 4, 4]), tensor(new Int32Array([0, 0, 0]), [3]), { norm, eps, steps: 20, generator: new Generator(0) });
      expect(Array.from(await r.fooled.read())).toEqual([1, 1, 1]);
      await expectBoundaryPoints(model, r.xAdv, picks.map((p) => p.step), picks.map((p) => ({ y: 0, j: p.j })), norm, TOL);
    });
  }
});

/** A tanh MLP D-H-K with set weights, and its logits and input Jacobian in float64. */
function tanhMlp(d: number, h: number, k: number, seed: number) {
  const rng = new CpuRandom(seed);
  const draw = (n: number, s: number) => Array.from({ length: n }, () => Math.fround(rng.normal() * s));
  const [w1, b1, w2, b2] = [draw(h * d, 1.5 / Math.sqrt(d)), draw(h, 0.3), draw(k * h, 1.5 / Math.sqrt(h)), draw(k, 0.3)];
  const l1 = new Linear(d, h, { generator: new Generator(0) });
  const l2 = new Linear(h, k, { generator: new Generator(0) });
  l1.loadStateDict(new Map([['weight', tensor(w1, [h, d])], ['bias', tensor(b1, [h])]]));
  l2.loadStateDict(new Map([['weight', tensor(w2, [k, h])], ['bias', tensor(b2, [k])]]));
  const model = new Seq(new Flatten(1), l1, new Activation('tanh'), l2);
  const cpu = (x: number[]) => {
    const a = Array.from({ length: h }, (_, u) => Math.tanh(b1[u]! + dot(w1.slice(u * d, (u + 1) * d), x)));
    const z = Array.from({ length: k }, (_, c) => b2[c]! + dot(w2.slice(c * h, (c + 1) * h), a));
    const jac = Array.from({ length: k }, (_, c) => Array.from({ length: d }, (_, i) => {
      let g = 0;
      for (let u = 0; u < h; u++) g += w2[c * h + u]! * (1 - a[u]! ** 2) * w1[u * d + i]!;
      return g;
    }));
    return { z, jac };
  };
  return { model, cpu };
}

/** AutoAttack's attack_single_run from x itself, in float64, for one example: the closest adversarial point and its distance. */
function fabRunCpu(cpu: ReturnType<typeof tanhMlp>['cpu'], x0: number[], y: number, target: number | null, norm: Norm, steps: number) {
  const [eta, beta, alphaMax] = [1.05, 0.9, 0.1];
  let x1 = x0.slice();
  let best = { adv: x0.slice(), dist: 1e10 };
  const argmax = (z: number[]) => z.indexOf(Math.max(...z));
  for (let it = 0; it < steps; it++) {
    const { z, jac } = cpu(x1);
    const others = target === null ? z.map((_, j) => j).filter((j) => j !== y) : [target];
    const dual = (g: number[]) => (norm === 'linf' ? g.reduce((s, v) => s + Math.abs(v), 0) : Math.hypot(...g));
    const cands = others.map((j) => {
      const g = jac[j]!.map((v, i) => v - jac[y]![i]!);
      const f = z[j]! - z[y]!;
      return { f, g, dist: Math.abs(f) / (1e-12 + dual(g)) };
    });
    const c = cands.reduce((p, q) => (q.dist < p.dist ? q : p));
    const b = dot(c.g, x1) - c.f;
    const d3 = refFabProjection(ref([2, x0.length], [...x1, ...x0]), ref([1, x0.length], c.g), ref([1], [b]), norm).data;
    const [d1, d2] = [Array.from(d3.subarray(0, x0.length)), Array.from(d3.subarray(x0.length))];
    const [a1, a2] = [Math.max(normOf(d1, norm), 1e-8), Math.max(normOf(d2, norm), 1e-8)];
    const alpha = Math.min(a1 / (a1 + a2), alphaMax);
    x1 = x1.map((v, i) => Math.min(1, Math.max(0, (v + eta * d1[i]!) * (1 - alpha) + (x0[i]! + eta * d2[i]!) * alpha)));
    if (argmax(cpu(x1).z) !== y) {
      const t = normOf(x1.map((v, i) => v - x0[i]!), norm);
      if (t < best.dist) best = { adv: x1.slice(), dist: t };
      x1 = x1.map((v, i) => x0[i]! + (v - x0[i]!) * beta);
    }
  }
  return best;
}

describe('FAB follows AutoAttack\'s iteration (a float64 transcription of attack_single_run on a tanh MLP)', () => {
  for (const norm of ['linf', 'l2'] as const) {
    for (const targeted of [true, false]) {
      it(`${targeted ? 'FAB-T' : 'FAB'} ${norm}`, async () => {
        const [d, k, n, steps] = [12, 4, 6, 8];
        const { model, cpu } = tanhMlp(d, 10, k, 5);
        const rng = new CpuRandom(11);
        const xs = Array.from({ length: n * d }, () => Math.fround(rng.uniform(0.1, 0.9)));
        const labels = Array.from({ length: n }, (_, e) => { const z = cpu(xs.slice(e * d, (e + 1) * d)).z; return z.indexOf(Math.max(...z)); });
        const x = tensor(xs, [n, d]);
        const r = fab(model, x, tensor(Int32Array.from(labels), [n]), { norm, eps: 1, steps, targeted, targetClasses: 1, generator: new Generator(0) });
        const adv = await rows(r.xAdv);
        const loss = Array.from(await r.loss.read());
        let found = 0;
        for (let e = 0; e < n; e++) {
          const x0 = xs.slice(e * d, (e + 1) * d);
          const z0 = cpu(x0).z;
          const runnerUp = z0.map((v, j) => [v, j] as const).sort((p, q) => q[0] - p[0])[1]![1];
          const want = fabRunCpu(cpu, x0, labels[e]!, targeted ? runnerUp : null, norm, steps);
          if (want.dist < 1e10) found++;
          expect(-loss[e]!, `example ${e}: the distance found`).toBeCloseTo(want.dist, 5);
          adv[e]!.forEach((v, i) => expect(v, `example ${e} pixel ${i}`).toBeCloseTo(want.adv[i]!, 5));
        }
        expect(found, 'not vacuous: most runs succeed').toBeGreaterThan(n / 2);
      });
    }
  }
});

describe('FAB on a trained model', () => {
  let model: Sequential;
  let data: ReturnType<typeof fashion>;
  beforeAll(async () => {
    model = await trainedMlp();
    data = fashion('test', 64);
  });

  const accuracy = async (fooled: Tensor) => 1 - Array.from(await fooled.read()).reduce((s, v) => s + v, 0) / fooled.size;

  for (const c of [
    { name: 'FAB-T L-inf eps 0.1', norm: 'linf' as const, eps: 0.1, targeted: true, restarts: 1, below: 0.3 },
    { name: 'FAB L2 eps 1 with restarts', norm: 'l2' as const, eps: 1, targeted: false, restarts: 2, below: 0.5 },
  ]) {
    it(`${c.name} lowers accuracy, its fooled points are misclassified, and every output is in the ball and [0, 1]`, async () => {
      const clean = noGrad(() => model.forward(data.x).argmax(1));
      const cleanAcc = Array.from(await clean.read()).filter((p, i) => p === data.labels[i]).length / 64;
      const r = fab(model, data.x, data.y, { norm: c.norm, eps: c.eps, steps: 10, targeted: c.targeted, targetClasses: 3, restarts: c.restarts, generator: new Generator(1) });
      const rep = budgetReport(await budgetExcess(data.x, r.xAdv, c.norm, c.eps).read(), c.eps);
      expect(rep.ok, JSON.stringify(rep)).toBe(true);
      const acc = await accuracy(r.fooled);
      expect(cleanAcc, 'not vacuous: the model is accurate').toBeGreaterThan(0.6);
      expect(acc, `accuracy under attack (clean: ${cleanAcc})`).toBeLessThan(c.below);
      const pred = Array.from(await noGrad(() => model.forward(r.xAdv).argmax(1)).read());
      const fooled = Array.from(await r.fooled.read());
      fooled.forEach((f, i) => { if (f) expect(pred[i], `example ${i} is fooled, so misclassified at xAdv`).not.toBe(data.labels[i]); });
      // Examples misclassified at x count as broken at distance 0, with xAdv = x.
      const [cleanPred, adv, x, loss] = [Array.from(await clean.read()), await rows(r.xAdv), await rows(data.x), Array.from(await r.loss.read())];
      cleanPred.forEach((p, i) => {
        if (p === data.labels[i]) return;
        expect([fooled[i], loss[i]], `example ${i}, misclassified at x: fooled, at distance 0`).toEqual([1, 0]);
        expect(adv[i], `example ${i}, misclassified at x: xAdv = x`).toEqual(x[i]);
      });
    });
  }

  it('more target classes never raise accuracy', async () => {
    const acc = async (targetClasses: number) => accuracy(fab(model, data.x, data.y, { norm: 'linf', eps: 0.05, steps: 10, targeted: true, targetClasses, generator: new Generator(2) }).fooled);
    const [a1, a3] = [await acc(1), await acc(3)];
    expect(a3).toBeLessThanOrEqual(a1);
    expect(a1, 'not vacuous: the small budget leaves some examples robust').toBeGreaterThan(0);
  });

  it('records the whole attack without a readback and leaks nothing', async () => {
    const run = (targeted: boolean) => scope(() => { fab(model, data.x, data.y, { norm: 'l2', eps: 1, steps: 2, targeted, targetClasses: 2, restarts: 2, generator: new Generator(2) }); });
    for (const targeted of [true, false]) {
      run(targeted);
      await dev().sync();
      const before = dev().stats();
      run(targeted);
      expect(dev().stats().submissions - before.submissions, 'only the safety cap may submit').toBeLessThanOrEqual(Math.ceil((dev().stats().dispatches - before.dispatches) / 512));
      await dev().sync();
      expect(dev().stats().liveTensors).toBe(before.liveTensors);
    }
  });
});

it('never updates BN running statistics and computes no weight gradients', async () => {
  const m = bnNet(1);
  const d = fashion('train', 16);
  const before = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  m.train();
  for (const [targeted, bnMode] of [[true, 'eval'], [false, 'train_frozen']] as const) {
    const r = fab(m, d.x, d.y, { norm: 'linf', eps: 0.1, steps: 3, targeted, targetClasses: 2, restarts: 2, bnMode, generator: new Generator(0) });
    await r.xAdv.read();
  }
  const after = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
  after.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(before[i]!)));
  for (const p of m.parameters()) expect(p.grad).toBeNull();
  expect(m.training, 'the model mode is restored').toBe(true);
});

it('refuses bad options, naming them', () => {
  const model = linearModel([W0, W1], [0, 0]);
  const x = tensor(IMAGES, [3, 1, 4, 4]);
  const y = tensor(new Int32Array([0, 0, 0]), [3]);
  const g = new Generator(0);
  const base = { norm: 'linf' as const, eps: 0.1, generator: g };
  expect(() => fab(model, x, y, { ...base, steps: 0 })).toThrow(/fab: steps must be an integer >= 1, got 0/);
  expect(() => fab(model, x, y, { ...base, restarts: 1.5 })).toThrow(/fab: restarts must be an integer >= 1, got 1\.5/);
  expect(() => fab(model, x, y, { ...base, targeted: true })).toThrow(/fab: targetClasses must be at most K - 1 = 1 .*got 9/);
  expect(() => fab(model, x, y, { ...base, targetClasses: 0 })).toThrow(/fab: targetClasses must be an integer >= 1, got 0/);
  expect(() => fab(model, x, y, { ...base, alphaMax: 1.5 })).toThrow(/fab: alphaMax must be a number in \[0, 1\], got 1\.5/);
  expect(() => fab(model, x, y, { ...base, eta: 0 })).toThrow(/fab: eta must be a number in \(0, 100\], got 0/);
  expect(() => fab(model, x, y, { ...base, beta: -0.1 })).toThrow(/fab: beta must be a number in \[0, 1\], got -0\.1/);
  expect(() => fab(model, x, y, { ...base, eps: 8 })).toThrow(/L-inf eps above 1 .*got 8/);
  expect(() => fab(model, x, y, { ...base, norm: 'l1' as never })).toThrow(/norm must be one of linf, l2, got "l1"/);
  expect(() => fab(model, x, tensor([0, 0, 0]), base)).toThrow(/fab: y must be int32 labels of shape \[3\], got float32 \[3\]/);
});
