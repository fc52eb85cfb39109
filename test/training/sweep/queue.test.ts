/**
 * Sweeps end to end: run here (the default), and on a real Redis on loopback with two worker processes on
 * lavapipe (through the built binary, as a user runs them). The queue's results equal the local ones; a
 * worker killed with SIGKILL mid-job leaves the job to the other, which resumes it from its checkpoint and
 * ends with the uninterrupted run's metrics; submitting again enqueues nothing; a job with a bad option fails
 * once, naming the key, and retry and cancel put it back and take it away.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { ensureRedis, startRedis, type RedisServer } from '../../redis.js';
import { expandSweep, type Sweep } from '../../../training/sweep/spec.js';
import { runSweepLocal } from '../../../training/sweep/local.js';
import { parseQueueUrl, SweepQueue, jobIdOf } from '../../../training/sweep/queue.js';
import type { JobResult } from '../../../training/sweep/run_job.js';

const dev = useDevice();
const bin = join(import.meta.dirname, '../../../dist/bin/robustgpu.js');
const tmp = () => mkdtempSync(join(tmpdir(), 'sweep-'));

// A few steps of PGD-AT of the SmallCNN on synthetic images, evaluated on 32 test images.
const TINY = { dataset: 'synthetic', model: 'smallcnn', objective: 'pgd-at', trainLimit: 96, heldOut: 16, batch: 16, attackSteps: 1, evalN: 16, evalPgdSteps: 1, finalN: 32, finalPgdSteps: 2, logEvery: 1 };
// Four training jobs (a grid), an evaluation of one of them that waits for its checkpoint, and a soup of two.
const spec = (out: string) => ({
  name: 'tiny', out,
  jobs: [
    { id: 'fit', kind: 'train', options: { ...TINY, epochs: 1 }, grid: { seed: [0, 1], lr: [0.05, 0.02] } },
    { id: 'check', kind: 'eval', options: { checkpoint: '@fit[seed=1,lr=0.05]', n: 32, attacks: ['clean', 'pgd'], pgdSteps: 2, skipChecks: true } },
    { id: 'soup', kind: 'soup', options: { method: 'uniform', ingredients: ['@fit[seed=0,lr=0.05]', '@fit[seed=0,lr=0.02]'], force: true, pgdSteps: 1, testN: 32, finalPgdSteps: 2 } },
  ],
});

const metricsOf = (rs: readonly (JobResult | null)[]) => Object.fromEntries(rs.map((r) => [r!.id, r!.metrics]));

let redis: RedisServer | null = null;
const why = ensureRedis();
const workers: ChildProcess[] = [];
function worker(url: string, name: string): ChildProcess {
  const w = spawn('node', [bin, 'worker', '--queue', url, '--lock-seconds', '2', '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  w.stdout!.on('data', () => {});
  w.stderr!.on('data', () => {});
  workers.push(w);
  return w;
}
async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, seconds = 120): Promise<T> {
  const t = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t > seconds * 1000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let local: Record<string, Record<string, number>> = {};
let localResults: JobResult[] = [];
let localSweep: Sweep;

describe('sweeps', () => {
  beforeAll(async () => {
    localSweep = expandSweep(spec(tmp()));
    localResults = await runSweepLocal(localSweep, { device: dev() });
    local = metricsOf(localResults);
    if (!why) redis = await startRedis();
  }, 240_000);
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await redis?.stop();
  });

  it('locally: every job runs in its run directory, and a second run skips what is done', async () => {
    expect(Object.keys(local)).toEqual(localSweep.jobs.map((j) => j.id));
    for (const j of localSweep.jobs) expect(existsSync(j.output), j.output).toBe(true);
    expect(localSweep.jobs.find((j) => j.id === 'check')!.after).toEqual(['fit[seed=1,lr=0.05]']);
    expect(localSweep.jobs.find((j) => j.id === 'soup')!.after.sort()).toEqual(['fit[seed=0,lr=0.02]', 'fit[seed=0,lr=0.05]']);
    expect(Object.keys(local.soup!)).toEqual(['clean', 'pgd-2']);
    // The eval job evaluates that checkpoint on the same 32 test images as the run's final evaluation.
    expect(local.check).toEqual(local['fit[seed=1,lr=0.05]']);
    // The four runs differ (seeds and learning rates reach the results).
    expect(new Set(Object.values(local).map((m) => JSON.stringify(m))).size).toBeGreaterThan(1);
    // Again: nothing runs, the stored results come back as they were (their times included).
    expect(await runSweepLocal(localSweep, { device: dev() })).toEqual(localResults);
    // robustgpu report SWEEP_DIR: one table over the sweep's training runs, report.html in the sweep's folder.
    const rep = spawnSync('node', [bin, 'report', localSweep.dir], { encoding: 'utf8' });
    expect(rep.status, rep.stderr).toBe(0);
    for (const j of localSweep.jobs.filter((x) => x.kind === 'train')) expect(rep.stdout).toContain(j.runDir.split('/').pop());
    // ... and the soup and eval jobs, each with its accuracies
    expect(rep.stdout).toContain('other jobs:');
    expect(rep.stdout).toMatch(/^soup +soup +\d+\.\d\d% +\d+\.\d\d%/m);
    expect(rep.stdout).toMatch(/^check +eval +\d+\.\d\d%/m);
    expect(existsSync(join(localSweep.dir, 'report.html'))).toBe(true);
    expect(existsSync(join(localSweep.dir, 'plane.svg'))).toBe(true);
  }, 60_000);

  it.skipIf(why)(`on a queue with two workers: the same results; resubmitting adds nothing${why ? ` (skipped: ${why})` : ''}`, async () => {
    const url = redis!.url;
    const dir = tmp();
    const specFile = join(dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(spec(join(dir, 'runs'))));
    const sweep = expandSweep(spec(join(dir, 'runs')));
    const q = new SweepQueue(parseQueueUrl(url));
    try {
      const first = await q.submit(sweep);
      // Jobs without dependencies go at once; the eval waits for its checkpoint.
      expect(first.added.sort()).toEqual(sweep.jobs.filter((j) => !j.after.length).map((j) => j.id).sort());
      worker(url, 'w1');
      worker(url, 'w2');
      const rows = await until('the sweep to complete', async () => {
        await q.promoteReady(sweep);
        const s = await q.status(sweep);
        if (s.some((r) => r.state === 'failed')) throw new Error(s.map((r) => `${r.id}: ${r.failedReason}`).join('; '));
        return s.every((r) => r.state === 'completed') ? s : null;
      }, 180);
      expect(metricsOf(rows.map((r) => r.result))).toEqual(local);
      // Both workers took part (six jobs, one at a time each).
      expect(new Set(rows.map((r) => r.worker)).size).toBe(2);
      const again = await q.submit(sweep);
      expect(again.added).toEqual([]);
      expect(again.existing.length).toBe(sweep.jobs.length);
      expect(existsSync(join(sweep.dir, 'sweep.json'))).toBe(true);
      const cli = spawnSync('node', [bin, 'sweep', 'status', specFile, '--queue', url], { encoding: 'utf8' });
      expect(cli.status, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/^fit\[seed=0,lr=0\.05\] +completed +100% +w[12] +1 +clean \d/m);
      const resubmit = spawnSync('node', [bin, 'sweep', specFile, '--queue', url, '--no-follow'], { encoding: 'utf8' });
      expect(resubmit.stdout).toContain('enqueued 0 now (none), 6 already in the queue');
    } finally {
      await q.close();
    }
  }, 240_000);

  it.skipIf(why)('a worker killed mid-job: the other resumes it from its checkpoint and ends with the uninterrupted metrics', async () => {
    const url = redis!.url;
    for (const w of workers.splice(0)) w.kill('SIGKILL');
    const long = { ...TINY, epochs: 6, seed: 5 };
    const ref = expandSweep({ name: 'ref', out: tmp(), jobs: [{ id: 'long', kind: 'train', options: long }] });
    const want = metricsOf(await runSweepLocal(ref, { device: dev() }));
    const sweep = expandSweep({ name: 'kill', out: tmp(), jobs: [{ id: 'long', kind: 'train', options: long }] });
    const q = new SweepQueue(parseQueueUrl(url));
    try {
      await q.submit(sweep);
      const a = worker(url, 'a');
      const job = sweep.jobs[0]!;
      // Kill once the first epoch's checkpoint is written and the run is past it.
      await until('the first checkpoint', async () => existsSync(job.output) && existsSync(join(job.runDir, 'metrics.jsonl')));
      await new Promise((r) => setTimeout(r, 300));
      a.kill('SIGKILL');
      worker(url, 'b');
      const done = await until('the job to complete on the other worker', async () => {
        const j = await q.queue.getJob(jobIdOf(job));
        const s = await j?.getState();
        if (s === 'failed') throw new Error(j!.failedReason);
        return s === 'completed' ? j : null;
      }, 180);
      const r = done!.returnvalue as JobResult;
      expect(r.resumed).toBe(true);
      expect((done!.progress as { worker?: string }).worker).toBe('b');
      expect({ [r.id]: r.metrics }).toEqual(want);
    } finally {
      await q.close();
    }
  }, 240_000);

  it.skipIf(why)('a job with a bad option fails once, with the key named', async () => {
    const url = redis!.url;
    if (!workers.some((w) => w.exitCode === null)) worker(url, 'c');
    const q = new SweepQueue(parseQueueUrl(url));
    try {
      // Past the submitter's own check (a spec file edited by hand, or another version): straight into the queue.
      const job = { ...expandSweep({ name: 'bad', out: tmp(), jobs: [{ id: 'bad', kind: 'train', options: TINY }] }).jobs[0]!, options: { ...TINY, epochs: 0 } };
      await q.queue.add(job.id, { sweep: 'bad', job }, { jobId: jobIdOf(job), attempts: 3, backoff: { type: 'fixed', delay: 100 } });
      const j = await until('the job to fail', async () => {
        const x = await q.queue.getJob(jobIdOf(job));
        return (await x?.getState()) === 'failed' ? x : null;
      }, 60);
      expect(j!.attemptsMade).toBe(1);
      expect(j!.failedReason).toMatch(/bad: .*'epochs' expects an integer >= 1, got 0/);
      // With no worker left: retry puts the failed job back in the queue, cancel removes it again.
      for (const w of workers) w.kill('SIGKILL');
      const sweep: Sweep = { ...expandSweep({ name: 'bad', out: tmp(), jobs: [{ id: 'bad', kind: 'train', options: TINY }] }), jobs: [job] };
      expect(await q.retry(sweep)).toEqual(['bad']);
      expect((await q.status(sweep))[0]!.state).toBe('waiting');
      expect(await q.cancel(sweep)).toEqual(['bad']);
      expect(await q.queue.getJob(jobIdOf(job))).toBeUndefined();
      expect((await q.status(sweep))[0]!.state).toBe('unknown');
      expect(await q.retry(sweep), 'nothing failed any more').toEqual([]);
    } finally {
      await q.close();
    }
  }, 90_000);
});

// A spec file on disk works through the CLI locally as well.
describe('robustgpu sweep SPEC.json', () => {
  it('runs locally and prints the results table; a bad spec exits 2 naming job and key', () => {
    const dir = tmp();
    const file = join(dir, 'spec.json');
    writeFileSync(file, JSON.stringify({ name: 'cli', out: 'out', jobs: [{ id: 'one', kind: 'train', options: { ...TINY, epochs: 1, trainLimit: 48 } }] }));
    const r = spawnSync('node', [bin, 'sweep', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('[1/1] one');
    expect(r.stdout).toMatch(new RegExp(`one +${join(dir, 'out', 'one')} +clean \\d+\\.\\d\\d%, pgd-2 \\d+\\.\\d\\d%`));
    writeFileSync(file, JSON.stringify({ name: 'cli', jobs: [{ id: 'one', kind: 'train', options: { lr: 'fast' } }] }));
    const bad = spawnSync('node', [bin, 'sweep', file], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`sweep: ${file}: job 'one': key 'lr' expects a number > 0, got 'fast'`);
  }, 120_000);
});
