/**
 * Per-dispatch GPU timing (device.startProfile / stopProfile): every dispatch between the two calls is
 * reported once, in recording order, named by its kernel, with a non-negative duration, across submits;
 * the results are the same values as without profiling.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import * as o from '../../engine/ops/index.js';
import { gpuSpanMs } from '../../engine/recorder.js';

const dev = useDevice();

describe('profiling', () => {
  it('times every dispatch in order, named by kernel, also past a forced submit', async () => {
    const d = dev();
    const x = tensor([1, -2, 3, -4]);
    d.startProfile();
    const y = scope(() => {
      const a = o.relu(x);
      d.flush();
      return o.sum(o.add(a, x));
    });
    const times = await d.stopProfile();
    expect(times.map((t) => t.kernel).slice(0, 2)).toEqual(['activation', 'binary']);
    expect(times.slice(2).every((t) => t.kernel.startsWith('reduce'))).toBe(true);
    for (const t of times) expect(t.ms).toBeGreaterThanOrEqual(0);
    expectClose(await y.read(), [2]);
  });

  it("'pass' mode times the recorder's compute passes; gpuSpanMs sums first start to last end per submission", async () => {
    const d = dev();
    const x = tensor([1, -2, 3, -4]);
    d.startProfile('pass');
    scope(() => {
      o.relu(o.add(x, x));
      d.flush();
      o.relu(x);
    });
    const times = await d.stopProfile();
    expect(times.map((t) => [t.kernel, t.submission])).toEqual([['pass', 0], ['pass', 1]]);
    // Each span comes from nanosecond timestamps of ~1e12 in float64: agreement to a picosecond-ish, not to 1e-9 ms.
    expect(gpuSpanMs(times)).toBeCloseTo(times[0]!.ms + times[1]!.ms, 6);
    // Two spans of one submission count from the first start to the last end, gap included.
    const one = [{ kernel: 'pass', ms: 1, startMs: 10, submission: 0 }, { kernel: 'pass', ms: 2, startMs: 14, submission: 0 }];
    expect(gpuSpanMs(one)).toBe(6);
  });

  it('refuses to stop what was not started, and to start twice', async () => {
    const d = dev();
    await expect(d.stopProfile()).rejects.toThrow(/not started/);
    d.startProfile();
    expect(() => d.startProfile()).toThrow(/already started/);
    expect(await d.stopProfile()).toEqual([]);
  });
});
