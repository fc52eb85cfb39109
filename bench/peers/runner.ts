/** What each engine provides per workload, and the interleaved timing loop over them. */

export interface Runner {
  /**
   * Records one repetition and resolves once the device has finished it; returns the wall milliseconds
   * from the start of recording to completion (disposing the outputs comes after and is not counted).
   */
  step(): Promise<number>;
  /**
   * The workload's result, for the cross-check against ours, in our layouts (NCHW, OIHW): the matmul or conv
   * output, dx followed by dw for a conv backward; for the training step, the losses of the first and the
   * last step (all engines start from our model's weights and take the same number of steps; NaN for the
   * last when there was only one). Called after the timed steps.
   */
  output(): Promise<Float32Array>;
  dispose(): void;
  /** Something the table should say about how this engine ran the workload. */
  notes?: string;
}

/**
 * Per timed step: wall milliseconds (as the runner measured them), and this process's CPU milliseconds
 * over the whole step call, all threads: on a CPU adapter (lavapipe) the device work runs on this
 * process's threads, so this is the work done, which other load on the machine disturbs less.
 */
export interface Samples { ms: number[]; cpuMs: number[] }

/**
 * Steps every runner once per round, in order (A, B, C, A, B, C, ...): `warmup` untimed rounds (the first
 * compiles the pipelines), then `reps` timed ones, so that a slow drift of the machine hits all alike.
 */
export async function interleave(runners: readonly Runner[], reps: number, warmup: number): Promise<Samples[]> {
  const out: Samples[] = runners.map(() => ({ ms: [], cpuMs: [] }));
  for (let r = 0; r < warmup; r++) for (const rn of runners) await rn.step();
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < runners.length; i++) {
      const c0 = process.cpuUsage();
      out[i]!.ms.push(await runners[i]!.step());
      const c = process.cpuUsage(c0);
      out[i]!.cpuMs.push((c.user + c.system) / 1000);
    }
  }
  return out;
}

/** max |got - want| over max |want| (positions where both are NaN count as equal). */
export function relError(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(g) && Number.isNaN(w)) continue;
    const d = Math.abs(g - w);
    if (Number.isNaN(d)) return NaN;
    if (d > diff) diff = d;
    if (Math.abs(w) > scale) scale = Math.abs(w);
  }
  return scale === 0 ? diff : diff / scale;
}
