/**
 * A sweep's report: the comparison of all its training runs (one table, the clean-vs-robust plane, the
 * curves overlaid, the options that differ) written into the sweep's folder, from the sweep.json that
 * `robustgpu sweep` leaves there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareRuns, type ReportResult } from '../report/report.js';
import { RunDirError } from '../report/runs.js';
import type { Sweep } from './spec.js';

export const isSweepDir = (dir: string): boolean => existsSync(join(dir, 'sweep.json'));

/** The run directories of the sweep's train jobs that have started (metrics.jsonl), in the sweep's order. */
export function sweepRunDirs(dir: string): string[] {
  let sweep: Sweep;
  try {
    sweep = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as Sweep;
  } catch (e) {
    throw new RunDirError(`${join(dir, 'sweep.json')}: ${(e as Error).message}`);
  }
  return sweep.jobs.filter((j) => j.kind === 'train' && existsSync(join(j.runDir, 'metrics.jsonl'))).map((j) => j.runDir);
}

export async function writeSweepReport(dir: string, opts: { robust?: string } = {}): Promise<ReportResult> {
  const dirs = sweepRunDirs(dir);
  if (!dirs.length) throw new RunDirError(`${dir}: the sweep has no training run with metrics yet`);
  return compareRuns(dirs, dir, opts);
}
