/**
 * A sweep's report: the comparison of all its training runs (one table, the clean-vs-robust plane, the
 * curves overlaid, the options that differ) and the results of its soup and eval jobs (a table, and points
 * of their own in the plane), written into the sweep's folder, from the sweep.json that `robustgpu sweep`
 * leaves there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareRuns, type ReportResult } from '../report/report.js';
import type { OtherResult } from '../report/plots.js';
import { finishedResult } from './run_job.js';
import { RunDirError } from '../report/runs.js';
import type { Sweep } from './spec.js';

export const isSweepDir = (dir: string): boolean => existsSync(join(dir, 'sweep.json'));

function readSweepFile(dir: string): Sweep {
  try {
    return JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as Sweep;
  } catch (e) {
    throw new RunDirError(`${join(dir, 'sweep.json')}: ${(e as Error).message}`);
  }
}

/**
 * What the sweep's report compares: the run directories of its train jobs that have started (metrics.jsonl)
 * and the results of its finished soup and eval jobs (job.json), in the sweep's order.
 */
export function sweepParts(dir: string): { runDirs: string[]; others: OtherResult[] } {
  const sweep = readSweepFile(dir);
  const runDirs = sweep.jobs.filter((j) => j.kind === 'train' && existsSync(join(j.runDir, 'metrics.jsonl'))).map((j) => j.runDir);
  const others = sweep.jobs.filter((j) => j.kind !== 'train').flatMap((j) => {
    const r = finishedResult(j);
    return r ? [{ label: j.id, kind: j.kind, metrics: r.metrics }] : [];
  });
  return { runDirs, others };
}

/** The sweep's report in `outDir` (default: the sweep's folder). */
export async function writeSweepReport(dir: string, opts: { robust?: string; outDir?: string } = {}): Promise<ReportResult> {
  const { runDirs, others } = sweepParts(dir);
  if (!runDirs.length) throw new RunDirError(`${dir}: the sweep has no training run with metrics yet`);
  return compareRuns(runDirs, opts.outDir ?? dir, { robust: opts.robust, others });
}
