/**
 * The peak-memory measurement of one TRADES step (bench/memory_peak.ts): the figures are ordered as their
 * definitions require, the step leaves nothing behind, and the measurement is repeatable.
 */
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { measureStepPeak } from '../../bench/memory_peak.js';

const dev = useDevice();

describe('memory_peak', () => {
  it('held >= in use > after the step > 0 for the small CNN, the same twice, and no tensor left behind', async () => {
    const live = dev().stats().liveTensors;
    const a = await measureStepPeak(dev(), { model: 'smallcnn', batch: 4, attackSteps: 2 });
    const b = await measureStepPeak(dev(), { model: 'smallcnn', batch: 4, attackSteps: 2 });
    expect(dev().stats().liveTensors).toBe(live);
    expect(a.heldBytes).toBeGreaterThanOrEqual(a.inUseBytes);
    expect(a.inUseBytes).toBeGreaterThan(a.afterBytes);
    // After the step: the 6 parameters, their 6 momentum buffers and the batch (each at least one 256-byte buffer).
    expect(a.afterBytes).toBeGreaterThanOrEqual(14 * 256);
    expect(Number.isFinite(a.loss)).toBe(true);
    expect([b.heldBytes, b.inUseBytes, b.afterBytes, b.loss]).toEqual([a.heldBytes, a.inUseBytes, a.afterBytes, a.loss]);
  });
});
