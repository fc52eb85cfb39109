/**
 * The timing loop every suite uses: our own loop rather than benchmark.js, because benchmark.js is a
 * devDependency (the installed CLI must run without it) and its adaptive sampling asks for seconds per case,
 * while one whole training step on lavapipe takes seconds by itself.
 *
 * Each repetition is timed twice: by GPU timestamps where the device has 'timestamp-query' (the recorder's
 * compute passes write them at their boundaries; per submission, first pass start to last pass end, summed:
 * the GPU's own time, without recording, submit and wait), and by the wall clock from recording to queue
 * completion (what a training loop sees). The GPU time is the headline where there is one.
 */
import type { Device } from '../engine/device.js';
import { gpuSpanMs } from '../engine/recorder.js';
import { scope } from '../engine/scope.js';

export interface Timing {
  /** Median wall time of one repetition, in milliseconds. */
  medianMs: number;
  minMs: number;
  /** Median GPU time of one repetition (timestamp queries), where the device has them. */
  gpuMs?: number;
  gpuMinMs?: number;
  /** Median CPU time of this process (all threads) per repetition. */
  cpuMs: number;
  reps: number;
  /** Dispatches and submissions of one repetition (the last; they do not vary between repetitions). */
  dispatches: number;
  submissions: number;
}

/**
 * One repetition's work: a function recording GPU work synchronously (the tensors it makes are disposed after
 * it), or `{ async }` for work that awaits readbacks on the way (AutoAttack's robust counts): scopes are
 * synchronous, so that one runs outside any and disposes what it makes itself.
 */
export type Recorder = (() => unknown) | { async: () => Promise<unknown> };

export interface TimingOptions {
  reps: number;
  /** Untimed runs after the first (compiling) one and before timing starts (default 2). */
  warmup?: number;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(v: readonly number[]): number {
  const s = [...v].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const TIMING_METHOD = 'median over the repetitions after one compiling run and the warm-up runs (whole steps: none), ' +
  'the four steps of a model interleaved round by round; own loop, not benchmark.js. Each repetition is timed by GPU ' +
  'timestamp queries where the adapter has them (written at the boundaries of the compute passes; per submission, first ' +
  "pass start to last pass end, summed) and by the wall clock from recording its GPU work to the end of device.sync() " +
  "(queue.onSubmittedWorkDone, so recording, submit and wait are included as in a training step)";

/**
 * Times `record` (which records GPU work: one op, a kernel, a whole step) as the wall time from recording
 * to queue completion (`device.sync()`). Tensors `record` creates are disposed after each repetition.
 */
export async function timeOp(device: Device, record: Recorder, opts: TimingOptions): Promise<Timing> {
  return (await timeInterleaved(device, [record], opts))[0]!;
}

/**
 * Times several cases round by round (repetition i of every case before repetition i + 1 of any), so that
 * cases whose times are compared (the target ratios) see the same phases of a shared, noisy host.
 */
export async function timeInterleaved(device: Device, records: Recorder[], opts: TimingOptions): Promise<Timing[]> {
  if (!Number.isInteger(opts.reps) || opts.reps < 1) throw new RangeError(`timing: reps must be a positive integer, got ${opts.reps}`);
  const counts = records.map(() => ({ dispatches: 0, submissions: 0 }));
  const timestamps = device.hasTimestamps;
  const once = async (i: number): Promise<[number, number, number]> => {
    if (timestamps) device.startProfile('pass');
    const s0 = device.stats();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const record = records[i]!;
    if (typeof record === 'function') scope(() => { record(); });
    else await record.async();
    await device.sync();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const s1 = device.stats();
    const spans = timestamps ? await device.stopProfile() : [];
    // Work with no compute pass (a lone buffer copy) has no timestamps: the wall clock is its only time.
    const gpu = spans.length ? gpuSpanMs(spans) : NaN;
    counts[i] = { dispatches: s1.dispatches - s0.dispatches, submissions: s1.submissions - s0.submissions };
    return [wall, (c.user + c.system) / 1e3, gpu];
  };
  // The first run of each compiles its pipelines and fills the buffer pool.
  for (let i = 0; i < records.length; i++) for (let k = 0; k < 1 + (opts.warmup ?? 2); k++) await once(i);
  const wall: number[][] = records.map(() => []);
  const cpu: number[][] = records.map(() => []);
  const gpu: number[][] = records.map(() => []);
  for (let r = 0; r < opts.reps; r++) {
    for (let i = 0; i < records.length; i++) {
      const [w, c, g] = await once(i);
      wall[i]!.push(w);
      cpu[i]!.push(c);
      gpu[i]!.push(g);
    }
  }
  return records.map((_, i) => ({
    medianMs: median(wall[i]!), minMs: Math.min(...wall[i]!), cpuMs: median(cpu[i]!), reps: opts.reps, ...counts[i]!,
    ...(gpu[i]!.every(Number.isFinite) ? { gpuMs: median(gpu[i]!), gpuMinMs: Math.min(...gpu[i]!) } : {}),
  }));
}
