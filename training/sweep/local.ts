/**
 * The embedded default of `robustgpu sweep`: the jobs one after another on this machine, in the order of
 * their dependencies (the spec's order already is one: references only go to earlier jobs), in the same
 * run directories a queue would use. A finished job is skipped, a train job cut short resumes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Device } from '../../engine/device.js';
import { finishedResult, runJob, type JobProgress, type JobResult } from './run_job.js';
import type { Sweep, SweepJob } from './spec.js';

export interface LocalSweepOptions {
  device: Device;
  onJobStart?: (job: SweepJob, index: number, skipped: boolean) => void;
  onProgress?: (job: SweepJob, p: JobProgress) => void;
  onJobEnd?: (job: SweepJob, r: JobResult) => void;
}

/** Writes sweep.json (the expanded jobs) into the sweep's folder: `robustgpu report SWEEP_DIR` reads it. */
export function writeSweepFile(sweep: Sweep): void {
  mkdirSync(sweep.dir, { recursive: true });
  writeFileSync(join(sweep.dir, 'sweep.json'), `${JSON.stringify(sweep, null, 2)}\n`);
}

export async function runSweepLocal(sweep: Sweep, o: LocalSweepOptions): Promise<JobResult[]> {
  writeSweepFile(sweep);
  const results: JobResult[] = [];
  for (const [i, job] of sweep.jobs.entries()) {
    o.onJobStart?.(job, i, finishedResult(job) !== null);
    const r = await runJob(job, { device: o.device, onProgress: (p) => o.onProgress?.(job, p) });
    results.push(r);
    o.onJobEnd?.(job, r);
  }
  return results;
}
