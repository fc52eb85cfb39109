/**
 * Memory: training-style loops must not leak tensors, bytes or pooled GPU buffers. Each check measures
 * device.stats() after a warm-up iteration count and again much later, and requires the numbers to be
 * identical (not merely close): a leak of one tensor per step would show as 90 extra tensors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { DeviceStats } from '../../engine/device.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

/** Deterministic values in [-1, 1) (a 32-bit LCG), so the test does not depend on the engine's RNG. */
function lcgValues(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 * 2 - 1) * scale;
  });
}

interface Params { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor }

function makeParams(): Params {
  const p = {
    w1: tensor(lcgValues(6 * 5, 1, 0.5), [6, 5]), b1: tensor(lcgValues(6, 2, 0.1), [6]),
    w2: tensor(lcgValues(3 * 6, 3, 0.5), [3, 6]), b2: tensor(lcgValues(3, 4, 0.1), [3]),
  };
  for (const t of Object.values(p)) t.requiresGrad = true;
  return p;
}

/** mean((relu(x @ w1^T + b1) @ w2^T + b2 - t)^2), relu written as maximum(., 0). */
function mlpLoss(p: Params, x: Tensor, t: Tensor): Tensor {
  const h = o.maximum(o.add(o.matmul(x, p.w1, { transB: true }), p.b1), 0);
  const y = o.add(o.matmul(h, p.w2, { transB: true }), p.b2);
  return o.mean(o.square(o.sub(y, t)));
}

const memory = (s: DeviceStats) => ({ liveTensors: s.liveTensors, liveBytes: s.liveBytes, pooledBytes: s.pooledBytes });

/** Runs `step` `total` times (awaiting each, as a training loop reading its loss does) and returns stats after iteration `at` and at the end. */
async function statsAt(total: number, at: number, step: (i: number) => Promise<void>) {
  let early: ReturnType<typeof memory> | null = null;
  for (let i = 1; i <= total; i++) {
    await step(i);
    if (i === at) early = memory(dev().stats());
  }
  return { early: early!, late: memory(dev().stats()) };
}

describe('memory stays flat', () => {
  const x = () => tensor(lcgValues(8 * 5, 10), [8, 5]);
  const target = () => tensor(lcgValues(8 * 3, 11), [8, 3]);

  it('100 forward/backward iterations of a 2-layer MLP inside scope()', async () => {
    const before = memory(dev().stats());
    const [xs, ts, p] = [x(), target(), makeParams()];
    let peakInside = 0;
    const { early, late } = await statsAt(100, 10, async () => {
      const loss = scope(() => {
        const l = mlpLoss(p, xs, ts);
        l.backward();
        peakInside = Math.max(peakInside, dev().stats().liveTensors);
        return l;
      });
      expect(Number.isFinite(await loss.item())).toBe(true);
      loss.dispose();
    });
    expect(late).toEqual(early);
    // Not vacuous: the step really allocated (graph, temporaries), and the gradients exist and accumulate.
    expect(peakInside).toBeGreaterThan(early.liveTensors + 5);
    for (const t of Object.values(p)) expect(t.grad, 'every parameter has a .grad').not.toBeNull();
    for (const t of [xs, ts, ...Object.values(p)]) t.dispose();
    expect(memory(dev().stats()).liveTensors).toBe(before.liveTensors);
    expect(memory(dev().stats()).liveBytes).toBe(before.liveBytes);
  });

  it('the same loop without an inner scope does leak (the measurement can see a leak)', async () => {
    const [xs, ts, p] = [x(), target(), makeParams()];
    const base = dev().stats().liveTensors;
    const counts = scope(() => {
      const c: number[] = [];
      for (let i = 0; i < 3; i++) { mlpLoss(p, xs, ts); c.push(dev().stats().liveTensors); }
      return c;
    });
    expect(counts[1]! - counts[0]!).toBeGreaterThan(0);
    expect(counts[2]! - counts[1]!).toBe(counts[1]! - counts[0]!);
    // The outer scope collected all of it.
    expect(dev().stats().liveTensors).toBe(base);
    for (const t of [xs, ts, ...Object.values(p)]) t.dispose();
  });

  it('SGD updates that replace the parameters (disposing the old ones) stay flat, and the loss falls', async () => {
    const before = memory(dev().stats());
    const [xs, ts] = [x(), target()];
    let p = makeParams();
    const losses: number[] = [];
    const { early, late } = await statsAt(100, 10, async () => {
      const loss = scope(() => {
        const l = mlpLoss(p, xs, ts);
        l.backward();
        return l;
      });
      losses.push(await loss.item());
      loss.dispose();
      // The update itself is not differentiated (torch.no_grad()).
      const next = noGrad(() => scope(() => Object.fromEntries(Object.entries(p).map(([k, w]) => [k, o.sub(w, o.mul(w.grad!, 0.1))])) as unknown as Params));
      for (const w of Object.values(p)) w.dispose(); // disposes its .grad too
      for (const w of Object.values(next)) w.requiresGrad = true;
      p = next;
    });
    expect(late).toEqual(early);
    expect(losses[99]!).toBeLessThan(losses[0]! * 0.9);
    for (const t of [xs, ts, ...Object.values(p)]) t.dispose();
    expect(memory(dev().stats()).liveTensors).toBe(before.liveTensors);
    expect(memory(dev().stats()).liveBytes).toBe(before.liveBytes);
  });

  it('grad() called in a loop stays flat and its results are the caller\'s', async () => {
    const before = memory(dev().stats());
    const [xs, ts, p] = [x(), target(), makeParams()];
    const { early, late } = await statsAt(100, 10, async () => {
      const gs = o.grad((w1, b1, w2, b2) => mlpLoss({ w1: w1!, b1: b1!, w2: w2!, b2: b2! }, xs, ts), [p.w1, p.b1, p.w2, p.b2]);
      expect(gs.map((g) => g.shape)).toEqual([[6, 5], [6], [3, 6], [3]]);
      await gs[3]!.read();
      for (const g of gs) g.dispose();
    });
    expect(late).toEqual(early);
    for (const t of [xs, ts, ...Object.values(p)]) t.dispose();
    expect(memory(dev().stats()).liveTensors).toBe(before.liveTensors);
  });
});

describe('graph lifetime', () => {
  it('disposing an intermediate tensor keeps a live loss\'s backward working and correct', async () => {
    const xs = tensor(lcgValues(8 * 5, 10), [8, 5]);
    const ts = tensor(lcgValues(8 * 3, 11), [8, 3]);
    const p = makeParams();
    const base = dev().stats().liveTensors;

    // Reference gradients from an untouched graph.
    const ref = o.grad((w1, b1, w2, b2) => mlpLoss({ w1: w1!, b1: b1!, w2: w2!, b2: b2! }, xs, ts), [p.w1, p.b1, p.w2, p.b2]);
    const want = await Promise.all(ref.map((g) => g.read()));
    for (const g of ref) g.dispose();

    // The same graph built step by step; every intermediate is disposed before backward.
    const m1 = o.matmul(xs, p.w1, { transB: true });
    const pre = o.add(m1, p.b1);
    const h = o.maximum(pre, 0);
    const m2 = o.matmul(h, p.w2, { transB: true });
    const y = o.add(m2, p.b2);
    const d = o.sub(y, ts);
    const sq = o.square(d);
    const loss = o.mean(sq);
    for (const t of [m1, pre, h, m2, y, d, sq]) t.dispose();
    expect(h.disposed).toBe(true);
    loss.backward();
    const got = await Promise.all([p.w1, p.b1, p.w2, p.b2].map((w) => w.grad!.read()));
    got.forEach((g, i) => expectClose(g, want[i]!, 1e-6, 1e-5, `grad ${i}`));

    // Backward freed the graph's saved tensors: only the loss and the four .grad tensors remain.
    expect(dev().stats().liveTensors).toBe(base + 5);
    loss.dispose();
    for (const w of Object.values(p)) { w.grad!.dispose(); w.grad = null; }
    expect(dev().stats().liveTensors).toBe(base);
    for (const t of [xs, ts, ...Object.values(p)]) t.dispose();
  });

  it('an op given a JS number leaks no scalar tensor, even outside every scope', async () => {
    const x = tensor([-1, 2, -3]);
    x.requiresGrad = true;
    const base = dev().stats();
    for (const f of [(t: Tensor) => o.maximum(t, 0), (t: Tensor) => o.div(t, 2), (t: Tensor) => { const m = o.gt(t, 0); const y = o.where(m, t, 0); m.dispose(); return y; }, (t: Tensor) => o.pow(2, t)]) {
      const y = f(x);
      const l = o.sum(y);
      y.dispose();
      l.backward();
      l.dispose();
    }
    expectClose(await x.grad!.read(), [0 + 0.5 + 0 + 2 ** -1 * Math.LN2, 1 + 0.5 + 1 + 4 * Math.LN2, 0 + 0.5 + 0 + 2 ** -3 * Math.LN2]);
    x.grad!.dispose();
    x.grad = null;
    expect(dev().stats().liveTensors).toBe(base.liveTensors);
    expect(dev().stats().liveBytes).toBe(base.liveBytes);
    x.dispose();
  });

  it('disposing the loss without backward frees the whole graph it kept alive', () => {
    const x = tensor([1, 2, 3]);
    x.requiresGrad = true;
    const base = dev().stats();
    const a = o.exp(x);
    const b = o.mul(a, a);
    const loss = o.sum(b);
    a.dispose();
    b.dispose();
    // exp and mul saved their inputs/outputs (aliases): still held by the loss's graph.
    expect(dev().stats().liveTensors).toBeGreaterThan(base.liveTensors + 1);
    loss.dispose();
    expect(dev().stats().liveTensors).toBe(base.liveTensors);
    expect(dev().stats().liveBytes).toBe(base.liveBytes);
    x.dispose();
  });
});
