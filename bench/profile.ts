/**
 * Where a training step's GPU time goes: every dispatch timed with GPU timestamps (Device.startProfile), summed
 * per kernel over the step and averaged over repetitions. Each dispatch then runs in a compute pass of its
 * own, so the profiled step is a little slower than a plain one; the wall time of an unprofiled repetition is
 * reported beside it for comparison.
 */
import type { Device } from '../engine/device.js';
import { scope } from '../engine/scope.js';
import { median } from './timing.js';

export interface KernelShare {
  kernel: string;
  /** Dispatches of this kernel per repetition. */
  dispatches: number;
  /** GPU milliseconds per repetition, summed over its dispatches. */
  ms: number;
  /** Fraction of all profiled GPU time. */
  share: number;
}

export interface StepProfile {
  kernels: KernelShare[];
  /** GPU milliseconds per repetition, all dispatches. */
  gpuMs: number;
  /** Wall milliseconds of one unprofiled repetition (median), from recording to queue completion. */
  wallMs: number;
  reps: number;
}

/** Profiles `record` (which records GPU work) over `reps` repetitions after one compiling run. */
export async function profileKernels(device: Device, record: () => unknown, reps = 3): Promise<StepProfile> {
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`profile: reps must be a positive integer, got ${reps}`);
  const run = () => scope(() => { record(); });
  run();
  await device.sync();
  const walls: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    run();
    await device.sync();
    walls.push(performance.now() - t0);
  }
  const byKernel = new Map<string, { dispatches: number; ms: number }>();
  for (let r = 0; r < reps; r++) {
    device.startProfile('dispatch');
    run();
    for (const t of await device.stopProfile()) {
      const k = byKernel.get(t.kernel) ?? { dispatches: 0, ms: 0 };
      k.dispatches += 1 / reps;
      k.ms += t.ms / reps;
      byKernel.set(t.kernel, k);
    }
  }
  const gpuMs = [...byKernel.values()].reduce((a, k) => a + k.ms, 0);
  const kernels = [...byKernel].map(([kernel, k]) => ({ kernel, dispatches: Math.round(k.dispatches), ms: k.ms, share: gpuMs > 0 ? k.ms / gpuMs : 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { kernels, gpuMs, wallMs: median(walls), reps };
}
