/**
 * The soak (bench/soak.ts) at a small size: TRADES-10 steps of the small CNN at batch 8 keep live tensors,
 * pooled bytes and the buffer count exactly flat after warm-up; and a step that leaks is reported.
 */
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import { Generator } from '../../engine/rng.js';
import { tradesStep } from '../../training/steps.js';
import { runSoak, formatSoak } from '../../bench/soak.js';
import { soakCommand } from '../../bench/soak_cli.js';
import { UsageError } from '../../cli/args.js';
import type { Tensor } from '../../engine/tensor.js';

const dev = useDevice();

describe('soak', () => {
  it('32 TRADES-10 steps at batch 8: nothing grows after warm-up, no buffer is created, the losses are finite', async () => {
    const r = await runSoak(dev(), { steps: 32, batch: 8, readEvery: 4 });
    expect(r.failures, formatSoak(r)).toEqual([]);
    expect(r.warmupSteps).toBe(8);
    expect(r.end.liveTensors).toBe(r.warm.liveTensors);
    expect(r.end.pooledBytes).toBe(r.warm.pooledBytes);
    expect(r.buffersCreatedPerStep).toBe(0);
    expect(r.reads.map((l) => l.step)).toEqual([4, 8, 12, 16, 20, 24, 28, 32]);
    // Not vacuous: the steps did allocate (the pool was filled during warm-up) and ran the whole loop.
    expect(r.warm.buffersCreated - r.start.buffersCreated).toBeGreaterThan(50);
    expect(r.submissionsPerStep).toBeGreaterThan(0);
    expect(formatSoak(r)).toMatch(/passed/);
  });

  it('reports a step that leaks a tensor per step', async () => {
    const leaked: Tensor[] = [];
    const r = await runSoak(dev(), {
      steps: 8, batch: 4, readEvery: 2, attackSteps: 1, data: 'synthetic',
      step: (m, o, b, k) => {
        leaked.push(tensor([leaked.length], [1], { device: dev() }));
        return tradesStep(m, o, b, { eps: 0.1, alpha: 0.05, steps: k, beta: 6, generator: new Generator(1) });
      },
    });
    for (const t of leaked) t.dispose();
    expect(r.data).toBe('synthetic');
    expect(r.failures.join('\n')).toMatch(/live tensors went from \d+ after warm-up \(step 4\) to \d+ at step 8/);
    expect(r.end.liveTensors - r.warm.liveTensors).toBe(4);
    expect(formatSoak(r)).toMatch(/FAILED/);
  });

  it('the command refuses a run too short to measure', async () => {
    await expect(soakCommand(['--steps', '10', '--read-every', '5'])).rejects.toThrow(UsageError);
    await expect(soakCommand(['--batch', '0'])).rejects.toThrow(/--batch expects a positive integer/);
  });
});
