/**
 * Running one expanded sweep job in its run directory, wherever it runs (locally or on a queue worker):
 * a finished job (job.json with the same hash) is not run again; a train job with a checkpoint resumes from
 * it (a worker that died mid-job loses only the steps since); a job with neither, and any unfinished soup or
 * eval job, starts from a clean folder.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Device } from '../../engine/device.js';
import { train, trainConfig } from '../run.js';
import { evalConfig, evalJson, evaluateCheckpoint } from '../eval_checkpoint.js';
import type { EvalReport } from '../eval.js';
import type { SweepJob } from './spec.js';
import { soupConfig } from '../soups/options.js';
import { runSoup, type SoupCommand } from '../soups/run.js';

export interface JobProgress {
  epoch?: number; step?: number; loss?: number; phase: string; fraction?: number;
  /** Seconds the phase still needs at its rate since it began (or since a resume), once it has moved. */
  etaSeconds?: number;
}

/** Wraps a progress callback so that every report with a fraction also carries the phase's ETA. */
export function withEta(onProgress: (p: JobProgress) => void, now: () => number = () => performance.now()): (p: JobProgress) => void {
  let phase: string | null = null;
  let t0 = 0;
  let f0 = 0;
  return (p) => {
    const t = now();
    if (p.phase !== phase) [phase, t0, f0] = [p.phase, t, p.fraction ?? 0];
    const f = p.fraction;
    onProgress(f !== undefined && f > f0 && f < 1 && t > t0 ? { ...p, etaSeconds: ((t - t0) / 1000) * ((1 - f) / (f - f0)) } : p);
  };
}

export interface JobResult {
  id: string;
  hash: string;
  runDir: string;
  output: string;
  /** Final accuracy per evaluation row (attack name -> accuracy). */
  metrics: Record<string, number>;
  /** Whether this call resumed a run from its checkpoint. */
  resumed: boolean;
  seconds: number;
}

const rowsOf = (r: EvalReport | null): Record<string, number> => Object.fromEntries((r?.rows ?? []).map((row) => [row.attack, row.accuracy]));

/** The stored result of a finished job, or null. */
export function finishedResult(job: SweepJob): JobResult | null {
  const f = join(job.runDir, 'job.json');
  if (!existsSync(f)) return null;
  try {
    const r = JSON.parse(readFileSync(f, 'utf8')) as JobResult;
    return r.hash === job.hash ? r : null;
  } catch {
    return null;
  }
}

function writeResult(job: SweepJob, r: JobResult): void {
  const f = join(job.runDir, 'job.json');
  writeFileSync(`${f}.tmp`, `${JSON.stringify(r, null, 2)}\n`);
  renameSync(`${f}.tmp`, f);
}

export async function runJob(job: SweepJob, o: { device: Device; onProgress?: (p: JobProgress) => void }): Promise<JobResult> {
  const done = finishedResult(job);
  if (done) return done;
  const opts = { ...o, onProgress: o.onProgress && withEta(o.onProgress) };
  const t0 = performance.now();
  let resumed = false;
  let metrics: Record<string, number>;
  if (job.kind === 'train') {
    const { config, sources } = trainConfig(job.options);
    resumed = existsSync(job.output);
    // Started but no checkpoint yet: nothing to keep.
    if (!resumed && existsSync(job.runDir)) rmSync(job.runDir, { recursive: true, force: true });
    let perEpoch = 1;
    const res = await train(config, job.runDir, {
      device: opts.device, sources, resume: resumed,
      onStep: (step, e, n) => { perEpoch = n; if (e === n || step % 10 === 0) opts.onProgress?.({ phase: 'train', step, epoch: Math.floor((step - 1) / n), fraction: Math.min(1, step / (n * config.epochs)) }); },
      onLog: (m) => opts.onProgress?.({ phase: 'train', step: m.step, epoch: m.epoch, loss: m.loss, fraction: Math.min(1, m.step / (perEpoch * config.epochs)) }),
      onEvalProgress: (row, d, total) => opts.onProgress?.({ phase: `eval ${row}`, fraction: d / total }),
    });
    if (res.fit.reason === 'non-finite') throw new Error(`job '${job.id}': ${res.fit.message ?? 'non-finite loss'}`);
    metrics = rowsOf(res.eval);
  } else if (job.kind === 'soup') {
    const { method, ingredients, ...rest } = job.options;
    const m = method as SoupCommand;
    // A soup cut short has nothing worth keeping: it starts over.
    rmSync(job.runDir, { recursive: true, force: true });
    const run = await runSoup(m, ingredients as string[], {
      ...soupConfig(m, rest, `job '${job.id}'`), outDir: job.runDir,
      onProgress: (phase, d, total) => opts.onProgress?.({ phase, fraction: total ? d / total : undefined }),
    });
    metrics = Object.fromEntries((run.soup?.test ?? []).map((r) => [r.attack, r.accuracy]));
  } else {
    const { checkpoint, ...rest } = job.options;
    const c = evalConfig(rest, `job '${job.id}'`);
    mkdirSync(job.runDir, { recursive: true });
    const e = await evaluateCheckpoint(checkpoint as string, c, { device: opts.device, onProgress: (row, d, total) => opts.onProgress?.({ phase: row, fraction: d / total }) });
    writeFileSync(`${job.output}.tmp`, `${JSON.stringify(evalJson(e), null, 2)}\n`);
    renameSync(`${job.output}.tmp`, job.output);
    metrics = rowsOf(e.report);
  }
  const r: JobResult = { id: job.id, hash: job.hash, runDir: job.runDir, output: job.output, metrics, resumed, seconds: (performance.now() - t0) / 1000 };
  writeResult(job, r);
  return r;
}
