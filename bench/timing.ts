/**
 * The timing loop shared by the suites: our own loop rather than benchmark.js, because benchmark.js is a
 * devDependency (the installed CLI must run without it) and its adaptive sampling asks for seconds per case,
 * while one 1024³ matmul on lavapipe already takes a large fraction of a second.
 */
import type { Device } from '../engine/device.js';
import { scope } from '../engine/scope.js';

export interface Timing {
  /** Median wall time of one repetition, in milliseconds. */
  medianMs: number;
  minMs: number;
  reps: number;
}

export interface TimingOptions {
  reps: number;
  /** Runs after the first (compiling) one and before timing starts. */
  warmup?: number;
}

/**
 * Times `record` (which records GPU work, e.g. one op) as the wall time from recording to queue completion
 * (`device.sync()`), so that each repetition includes the submit and the wait, as a training step would.
 * Tensors `record` creates are disposed after each repetition.
 */
export async function timeOp(device: Device, record: () => unknown, opts: TimingOptions): Promise<Timing> {
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    scope(() => { record(); });
    await device.sync();
    return performance.now() - t0;
  };
  await once(); // compiles the pipeline
  for (let i = 0; i < (opts.warmup ?? 2); i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < opts.reps; i++) samples.push(await once());
  samples.sort((x, y) => x - y);
  const mid = samples.length >> 1;
  const medianMs = samples.length % 2 ? samples[mid]! : (samples[mid - 1]! + samples[mid]!) / 2;
  return { medianMs, minMs: samples[0]!, reps: samples.length };
}
