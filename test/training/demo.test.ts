import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { runDemo, DEMO_DEFAULTS } from '../../training/demo.js';

const dev = useDevice();

describe('the default job (PGD adversarial training of an MLP on Fashion-MNIST)', () => {
  it('lowers the adversarial loss and reports accuracies on held-out data, with flat memory', async () => {
    const before = dev().stats();
    const r = await runDemo(dev(), { ...DEMO_DEFAULTS, steps: 40, batch: 32, attackSteps: 2, evalAttackSteps: 3, evalExamples: 100, logEvery: 10 });
    expect(r.losses.length).toBe(4);
    expect(r.losses[3]!.loss).toBeLessThan(r.losses[0]!.loss);
    // 10 balanced classes: chance is 10%; 40 steps of adversarial training already beat it clearly.
    expect(r.cleanAcc).toBeGreaterThan(0.3);
    expect(r.pgdAcc).toBeLessThanOrEqual(r.cleanAcc);
    const after = dev().stats();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  it('stops on a non-finite loss, naming the step', async () => {
    await expect(runDemo(dev(), { ...DEMO_DEFAULTS, steps: 4, batch: 8, lr: 1e38, attackSteps: 1, evalExamples: 100, logEvery: 1 })).rejects.toThrow(/loss is (NaN|Infinity|-Infinity) at step [234]/);
  });
});
