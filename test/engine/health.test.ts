/**
 * Training health on the GPU: a NaN in the input batch, the loss or the gradients is caught without a
 * readback per step, names the step and the quantity, and gates the optimizer: 'stop' keeps the weights of the
 * last good step for good, 'skip' skips only the bad steps. A gated SGD/Adam step is bit-identical to an
 * ungated one when the gate is open.
 */
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { full, tensor } from '../../engine/create.js';
import { TrainingHealth } from '../../engine/health.js';
import { SGD, Adam, gradNorm } from '../../engine/optim/index.js';
import { scope } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

/** One step of least squares on w with input x: loss = mean((x w - 1)^2). */
function step(w: Tensor, x: Tensor, opt: SGD | Adam, health: TrainingHealth | null, i: number): void {
  scope(() => {
    const loss = o.mean(o.square(o.sub(o.matmul(x, w), 1)));
    loss.backward();
    const gate = health?.check(i, { input: x, loss, gradNorm: gradNorm([w]) });
    opt.step({ gate });
    opt.zeroGrad();
  });
}

const xOk = () => tensor([[1, 2], [3, 4]]);

describe('TrainingHealth', () => {
  it('an open gate gives the same bits as no gate (SGD with momentum, Adam)', async () => {
    for (const make of [(p: Tensor[]) => new SGD(p, { lr: 0.01, momentum: 0.9 }), (p: Tensor[]) => new Adam(p, { lr: 0.01 })]) {
      const [a, b] = [full([2, 1], 0.5), full([2, 1], 0.5)];
      a.requiresGrad = b.requiresGrad = true;
      const [oa, ob] = [make([a]), make([b])];
      const h = new TrainingHealth(dev());
      for (let i = 0; i < 4; i++) { step(a, xOk(), oa, null, i); step(b, xOk(), ob, h, i); }
      expect(Array.from(await b.read())).toEqual(Array.from(await a.read()));
      expect((await h.read()).healthy).toBe(true);
    }
  });

  it("'stop': a NaN pixel at step 3 closes the gate for good; the weights are those after step 2; the report names step and input", async () => {
    const w = full([2, 1], 0.5);
    w.requiresGrad = true;
    const ref = full([2, 1], 0.5);
    ref.requiresGrad = true;
    const opt = new SGD([w], { lr: 0.01, momentum: 0.9 });
    const optRef = new SGD([ref], { lr: 0.01, momentum: 0.9 });
    const h = new TrainingHealth(dev(), 'stop');
    for (let i = 0; i < 6; i++) {
      step(w, i === 3 ? tensor([[1, NaN], [3, 4]]) : xOk(), opt, h, i);
      if (i < 3) step(ref, xOk(), optRef, null, i);
    }
    const rep = await h.read();
    expect(rep).toEqual({ healthy: false, firstBadStep: 3, what: ['input batch', 'loss', 'gradients'], skipped: 0 });
    expect(Array.from(await w.read())).toEqual(Array.from(await ref.read()));
    expect(Array.from(await w.read()).every(Number.isFinite)).toBe(true);
  });

  it("'skip': an overflowing step (lr 1e30 makes the weights huge, then the loss inf) is skipped and counted, the rest go on", async () => {
    const w = full([2, 1], 0.5);
    w.requiresGrad = true;
    const opt = new SGD([w], { lr: 1e18 });
    const h = new TrainingHealth(dev(), 'skip');
    for (let i = 0; i < 4; i++) step(w, xOk(), opt, h, i);
    const rep = await h.read();
    expect(rep.healthy).toBe(true);
    expect(rep.firstBadStep).not.toBeNull();
    expect(rep.what).toContain('loss');
    expect(rep.skipped).toBeGreaterThan(0);
    expect(Array.from(await w.read()).every(Number.isFinite), 'no NaN ever reached the weights').toBe(true);
  });

  it('checks cost no submission (the state is read with what the loop reads anyway)', async () => {
    const w = full([2, 1], 0.5);
    w.requiresGrad = true;
    const opt = new SGD([w], { lr: 0.01 });
    const h = new TrainingHealth(dev());
    await dev().sync();
    const before = dev().stats().submissions;
    for (let i = 0; i < 3; i++) step(w, xOk(), opt, h, i);
    expect(dev().stats().submissions).toBe(before);
    expect(() => opt.step({ gate: tensor([1, 1]) })).toThrow(/gate must be a float32 tensor of one element/);
    expect(() => new TrainingHealth(dev(), 'pause' as never)).toThrow(/mode must be 'stop' or 'skip'/);
  });
});
