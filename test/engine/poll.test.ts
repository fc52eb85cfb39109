/**
 * The poll interval (engine/poll.ts): with an interval set, native setImmediate callbacks (Dawn's completion
 * poll; a bound function looks the same) wait that long, JavaScript callbacks keep setImmediate's timing, and
 * GPU work still completes; bad intervals are refused by name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { pollInterval, setPollInterval } from '../../engine/poll.js';
import { Device } from '../../engine/device.js';
import { tensor } from '../../engine/create.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();
const before = pollInterval();
afterEach(() => setPollInterval(before));

const elapsed = (schedule: (done: () => void) => void): Promise<number> => new Promise((resolve) => {
  const t0 = performance.now();
  schedule(() => resolve(performance.now() - t0));
});

describe('poll interval', () => {
  it('delays native callbacks by the interval and leaves JavaScript ones alone', async () => {
    // 200 ms against a 150 ms bound: a loaded CI machine may delay a callback by tens of milliseconds.
    setPollInterval(200);
    expect(await elapsed((done) => setImmediate(done.bind(null)))).toBeGreaterThanOrEqual(190);
    expect(await elapsed((done) => setImmediate(() => done()))).toBeLessThan(150);
    setPollInterval(0);
    expect(await elapsed((done) => setImmediate(done.bind(null)))).toBeLessThan(150);
  });

  it('clearImmediate cancels a delayed callback, and a plain one as before', async () => {
    setPollInterval(20);
    let ran = 0;
    clearImmediate(setImmediate((() => { ran++; }).bind(null)));
    clearImmediate(setImmediate(() => { ran++; }));
    await new Promise((r) => setTimeout(r, 60));
    expect(ran).toBe(0);
    expect(await elapsed((done) => setImmediate(() => done()))).toBeLessThan(150);
  });

  it('GPU work completes and reads back with any interval', async () => {
    for (const ms of [0, 1, 5]) {
      setPollInterval(ms);
      expect(Array.from(await o.add(tensor([1, 2]), tensor([3, 4])).read())).toEqual([4, 6]);
      await dev().sync();
    }
  });

  it('refuses a negative or non-numeric interval', async () => {
    expect(() => setPollInterval(-1)).toThrow(/>= 0, got -1/);
    await expect(Device.create({ pollIntervalMs: Number.NaN })).rejects.toThrow(/pollIntervalMs \(or ROBUSTGPU_POLL_MS\)/);
  });
});
