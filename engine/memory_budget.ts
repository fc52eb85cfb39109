/**
 * The device memory budget: how many bytes of GPU memory the engine aims to hold (engine/pool.ts evicts
 * free buffers above it; Device.release submits early when parked buffers pass a share of it). WebGPU does
 * not report a device's memory, so without DeviceOptions.memoryBudgetBytes or ROBUSTGPU_MEMORY_BUDGET the
 * budget is an estimate:
 * - a software adapter (lavapipe) allocates its buffers in host memory shared with everything else on the
 *   host: half of the host's RAM;
 * - a GPU: the larger of 8 GiB (a common card's memory; a guess that errs low, so that the engine is more
 *   likely to stay within a small card than to overrun it) and maxBufferSize (the device can hold at least one
 *   buffer that large). On a larger card, pass its memory (bench/gpu_run.sh reads it from nvidia-smi):
 *   below the live set of a step the pool re-creates its buffers every step (stats().buffersCreated shows it).
 */
import { totalmem } from 'node:os';

const GIB = 2 ** 30;
const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: GIB, t: 2 ** 40 };

/** Bytes from '12345', '512M', '8G', '8GiB', '1.5 GB' (binary units: G = 2^30). */
export function parseBytes(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  const v = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!(v >= 1)) throw new RangeError(`${what} must be a byte count such as 4294967296, 4096M or 4G, got '${text}'`);
  return Math.floor(v);
}

/** The explicit budget (option, else environment), or undefined for the estimate. */
export function explicitMemoryBudget(option: number | undefined, env = process.env.ROBUSTGPU_MEMORY_BUDGET): number | undefined {
  if (option !== undefined) {
    if (!(Number.isFinite(option) && option >= 1)) throw new RangeError(`memoryBudgetBytes must be a finite number of bytes >= 1, got ${option}`);
    return Math.floor(option);
  }
  return env !== undefined && env !== '' ? parseBytes(env, 'ROBUSTGPU_MEMORY_BUDGET') : undefined;
}

export function estimateMemoryBudget(fallback: boolean, maxBufferSize: number): number {
  return fallback ? Math.floor(totalmem() / 2) : Math.max(8 * GIB, maxBufferSize);
}

/**
 * Parked (released while recording) bytes above this force a submit: a quarter of the budget, at most 1 GiB.
 * Parked bytes buy nothing but fewer submits, and a submit is cheap: even at 1 GiB, WRN-34-10 at batch 128
 * (84 MB activations) is submitted only every dozen or so of its largest temporaries.
 */
export function parkedLimit(budgetBytes: number): number {
  return Math.min(budgetBytes / 4, GIB);
}
