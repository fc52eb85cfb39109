/**
 * `robustgpu sweep SPEC.json` runs a sweep here, job after job (the default), or with `--queue URL` submits
 * it to workers (`robustgpu worker`) and follows it with a table; `sweep status|cancel|retry SPEC.json
 * --queue URL` look after a submitted one. A thin layer over training/sweep/.
 */
import { Device, setDefaultDevice } from '../engine/device.js';
import { readSweep, SweepSpecError, type Sweep } from '../training/sweep/spec.js';
import { runSweepLocal } from '../training/sweep/local.js';
import { parseQueueUrl, QueueUrlError, SweepQueue, type JobStatus } from '../training/sweep/queue.js';
import type { JobResult } from '../training/sweep/run_job.js';
import type { Options } from '../training/options.js';
import { defineSchema } from './schema.js';
import { DEVICE_OPTIONS } from './device_options.js';
import { UsageError } from './args.js';
import { Progress, fmtSecs } from './progress.js';
import { table } from './table.js';

const ACTIONS = ['status', 'cancel', 'retry'] as const;

const OPTIONS = {
  queue: { kind: 'string', arg: 'URL', description: 'submit to this Redis (redis://HOST:PORT/DB) instead of running here' },
  noFollow: { kind: 'bool', default: false, description: 'with --queue: submit and return without following' },
  refresh: { kind: 'number', above: 0, default: 2, arg: 'SECONDS', description: 'seconds between refreshes of the followed table' },
  backend: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.backend!.description },
  adapter: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.adapter!.description },
} as const satisfies Options;

const schema = defineSchema({
  name: 'sweep',
  summary: 'Run a sweep (train and eval jobs, grids over their options, dependencies): here, one job after another, or on\n' +
    'workers through a Redis queue (--queue), followed with a live table. status, cancel and retry act on a submitted sweep.',
  usage: 'robustgpu sweep SPEC.json [--queue redis://HOST:PORT/DB] [--no-follow]\n       robustgpu sweep status|cancel|retry SPEC.json --queue redis://HOST:PORT/DB',
  positionals: '[ACTION] SPEC.json',
  options: OPTIONS,
  examples: [
    'robustgpu sweep sweeps/soup.json',
    'robustgpu sweep sweeps/soup.json --queue redis://gpu-head:6379/0',
    'robustgpu sweep status sweeps/soup.json --queue redis://gpu-head:6379/0',
  ],
});

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const metricText = (r: JobResult | null) => (r ? Object.entries(r.metrics).map(([k, v]) => `${k} ${pct(v)}`).join(', ') : '');

function load(path: string): Sweep {
  try {
    return readSweep(path);
  } catch (e) {
    if (e instanceof SweepSpecError) throw new UsageError(`sweep: ${e.message}`);
    throw e;
  }
}

function connect(url: string | undefined, action: string): SweepQueue {
  if (!url) throw new UsageError(`sweep ${action}: needs --queue redis://HOST:PORT/DB`);
  try {
    return new SweepQueue(parseQueueUrl(url));
  } catch (e) {
    if (e instanceof QueueUrlError) throw new UsageError(`sweep: ${e.message}`);
    throw e;
  }
}

export function statusTable(rows: readonly JobStatus[]): string {
  return table(['job', 'state', 'progress', 'worker', 'attempts', 'result'], rows.map((s) => {
    const p = s.progress;
    const prog = p ? `${typeof p.fraction === 'number' ? `${(100 * p.fraction).toFixed(0)}% ` : ''}${String(p.phase ?? '')}${typeof p.loss === 'number' ? ` loss ${p.loss.toFixed(3)}` : ''}${typeof p.etaSeconds === 'number' ? ` ETA ${fmtSecs(p.etaSeconds)}` : ''}` : '';
    return [s.id, s.state, s.state === 'completed' ? '100%' : prog, s.worker ?? '', String(s.attempts), s.state === 'failed' ? (s.failedReason ?? '') : metricText(s.result)];
  }));
}

export async function sweepCommand(argv: string[]): Promise<number> {
  const p = schema.parse(argv);
  if (!p) return 0;
  const pos = p.positionals;
  const action = (ACTIONS as readonly string[]).includes(pos[0] ?? '') ? pos[0]! : null;
  const files = action ? pos.slice(1) : pos;
  if (files.length !== 1) throw new UsageError(`sweep: expected ${action ? `one spec file after '${action}'` : 'one spec file'}, got ${files.length} (see --help)`);
  const sweep = load(files[0]!);
  const v = p.values;

  if (action) {
    const q = connect(v.queue, action);
    try {
      if (action === 'status') console.log(statusTable(await q.status(sweep)));
      else if (action === 'cancel') console.log(`sweep ${sweep.name}: removed ${(await q.cancel(sweep)).join(', ') || 'no waiting job'}; active jobs finish`);
      else console.log(`sweep ${sweep.name}: retrying ${(await q.retry(sweep)).join(', ') || 'no failed job'}`);
    } finally {
      await q.close();
    }
    return 0;
  }

  if (v.queue) {
    const q = connect(v.queue, 'submit');
    try {
      const { added, existing } = await q.submit(sweep);
      console.log(`sweep ${sweep.name}: ${sweep.jobs.length} jobs; enqueued ${added.length} now (${added.join(', ') || 'none'}), ${existing.length} already in the queue, the rest when what they need completes`);
      if (v.noFollow) return 0;
      return await follow(q, sweep, v.refresh);
    } finally {
      await q.close();
    }
  }

  const device = await Device.create({ backend: v.backend, adapter: v.adapter });
  setDefaultDevice(device);
  try {
    let bar: Progress | null = null;
    const results = await runSweepLocal(sweep, {
      device,
      onJobStart: (job, i, skipped) => { console.log(`[${i + 1}/${sweep.jobs.length}] ${job.id}${skipped ? ': done already' : ''}`); bar = skipped ? null : new Progress(job.id, 1000, 'permille'); },
      onProgress: (_job, pr) => { if (pr.fraction !== undefined) bar?.update(Math.round(1000 * pr.fraction), pr.phase); },
    });
    console.log(`\n${table(['job', 'run directory', 'result', 'seconds'], results.map((r) => [r.id, r.runDir, metricText(r), r.seconds.toFixed(1)]))}`);
    console.log(`\nrobustgpu report ${sweep.dir} compares the runs`);
    return 0;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}

/** Redraws the table until every job has completed (0) or one failed and nothing else can run (1). */
async function follow(q: SweepQueue, sweep: Sweep, refreshSeconds: number): Promise<number> {
  let shown = '';
  for (;;) {
    await q.promoteReady(sweep);
    const rows = await q.status(sweep);
    const text = statusTable(rows);
    if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
    else if (text !== shown) console.log(`${text}\n`);
    shown = text;
    if (rows.every((r) => r.state === 'completed')) return 0;
    const running = rows.some((r) => ['active', 'waiting', 'delayed', 'prioritized'].includes(r.state));
    if (rows.some((r) => r.state === 'failed') && !running) {
      console.error(`sweep ${sweep.name}: ${rows.filter((r) => r.state === 'failed').map((r) => `${r.id} failed: ${r.failedReason}`).join('; ')}`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, refreshSeconds * 1000));
  }
}
