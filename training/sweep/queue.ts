/**
 * Sweeps on a BullMQ queue in Redis (one queue, `robustgpu-jobs`; a job's id is `j-` and its hash, so a
 * sweep submitted again adds nothing that is already there). Dependencies: a sweep's jobs form a DAG (one
 * base model feeding many fine-tunes), and BullMQ's flows are trees (a job has one parent), so the sweep
 * itself is stored in Redis and a job is enqueued once everything it needs has completed: by the submitter
 * (at submission and at every refresh of `follow`) and by the worker that completes a dependency. Both may
 * try; the job id makes the second a no-op.
 */
import { Queue, type Job, type ConnectionOptions } from 'bullmq';
import type { JobResult } from './run_job.js';
import { writeSweepFile } from './local.js';
import type { Sweep, SweepJob } from './spec.js';

export const QUEUE_NAME = 'robustgpu-jobs';

export interface JobData { sweep: string; job: SweepJob }
export type JobState = 'waiting' | 'blocked' | 'active' | 'completed' | 'failed' | 'delayed' | 'prioritized' | 'waiting-children' | 'unknown';

export interface JobStatus {
  id: string;
  state: JobState;
  progress: Record<string, unknown> | null;
  worker: string | null;
  attempts: number;
  result: JobResult | null;
  failedReason: string | null;
}

export class QueueUrlError extends Error {}

/** redis://HOST:PORT/DB (PORT 6379, DB 0 by default) as BullMQ connection options. */
export function parseQueueUrl(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueUrlError(`--queue expects redis://HOST:PORT/DB, got '${url}'`);
  }
  if (u.protocol !== 'redis:') throw new QueueUrlError(`--queue expects a redis:// URL, got '${url}'`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new QueueUrlError(`--queue: the database must be an integer >= 0, got '${u.pathname.slice(1)}' in '${url}'`);
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, db, ...(u.password ? { password: decodeURIComponent(u.password) } : {}), maxRetriesPerRequest: null };
}

export const jobIdOf = (job: SweepJob) => `j-${job.hash}`;
const sweepKey = (name: string) => `robustgpu:sweep:${name}`;
const cancelKey = (name: string) => `robustgpu:sweep:${name}:cancelled`;

/** Retries with backoff for what may pass (a lost device, a full disk); a bad config fails at once (run_job throws UnrecoverableError). */
const JOB_OPTIONS = { attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: false, removeOnFail: false } as const;

export class SweepQueue {
  readonly queue: Queue<JobData, JobResult>;

  constructor(readonly connection: ConnectionOptions) {
    this.queue = new Queue<JobData, JobResult>(QUEUE_NAME, { connection });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  async storeSweep(sweep: Sweep): Promise<void> {
    const client = await this.queue.client;
    await client.set(sweepKey(sweep.name), JSON.stringify(sweep));
    await client.del(cancelKey(sweep.name));
  }

  async loadSweep(name: string): Promise<Sweep | null> {
    const raw = await (await this.queue.client).get(sweepKey(name));
    return raw ? (JSON.parse(raw) as Sweep) : null;
  }

  async isCancelled(name: string): Promise<boolean> {
    return (await (await this.queue.client).get(cancelKey(name))) !== null;
  }

  async stateOf(job: SweepJob): Promise<JobState> {
    const j = await this.queue.getJob(jobIdOf(job));
    return j ? ((await j.getState()) as JobState) : 'unknown';
  }

  /**
   * Enqueues every job of the sweep that is not in the queue yet and whose dependencies have all completed.
   * Returns the ids added now.
   */
  async promoteReady(sweep: Sweep): Promise<string[]> {
    if (await this.isCancelled(sweep.name)) return [];
    const states = new Map<string, JobState>();
    for (const j of sweep.jobs) states.set(j.id, await this.stateOf(j));
    const added: string[] = [];
    for (const j of sweep.jobs) {
      if (states.get(j.id) !== 'unknown') continue;
      if (!j.after.every((d) => states.get(d) === 'completed')) continue;
      const existing = await this.queue.getJob(jobIdOf(j));
      if (existing) continue;
      await this.queue.add(j.id, { sweep: sweep.name, job: j }, { ...JOB_OPTIONS, jobId: jobIdOf(j) });
      added.push(j.id);
    }
    return added;
  }

  /** Writes sweep.json in the sweep's folder (a path the workers share), stores the sweep and enqueues what can run now; the rest follows as dependencies complete. */
  async submit(sweep: Sweep): Promise<{ added: string[]; existing: string[] }> {
    const before = new Set<string>();
    for (const j of sweep.jobs) if ((await this.stateOf(j)) !== 'unknown') before.add(j.id);
    writeSweepFile(sweep);
    await this.storeSweep(sweep);
    const added = await this.promoteReady(sweep);
    return { added, existing: [...before] };
  }

  async status(sweep: Sweep): Promise<JobStatus[]> {
    const out: JobStatus[] = [];
    for (const j of sweep.jobs) {
      const job = await this.queue.getJob(jobIdOf(j));
      if (!job) {
        out.push({ id: j.id, state: j.after.length ? 'blocked' : 'unknown', progress: null, worker: null, attempts: 0, result: null, failedReason: null });
        continue;
      }
      const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as Record<string, unknown>) : null;
      out.push({
        id: j.id, state: (await job.getState()) as JobState, progress, worker: typeof progress?.worker === 'string' ? progress.worker : null,
        attempts: job.attemptsMade, result: (job.returnvalue as JobResult | null) ?? null, failedReason: job.failedReason ?? null,
      });
    }
    return out;
  }

  /** Removes the sweep's waiting and delayed jobs and stops promoting its others (active jobs finish). */
  async cancel(sweep: Sweep): Promise<string[]> {
    await (await this.queue.client).set(cancelKey(sweep.name), '1');
    const removed: string[] = [];
    for (const j of sweep.jobs) {
      const job = await this.queue.getJob(jobIdOf(j));
      if (!job) continue;
      const s = await job.getState();
      if (s === 'waiting' || s === 'delayed' || s === 'prioritized') {
        await job.remove();
        removed.push(j.id);
      }
    }
    return removed;
  }

  /** Puts the sweep's failed jobs back in the queue (and lifts a cancel). */
  async retry(sweep: Sweep): Promise<string[]> {
    await (await this.queue.client).del(cancelKey(sweep.name));
    const retried: string[] = [];
    for (const j of sweep.jobs) {
      const job = await this.queue.getJob(jobIdOf(j)) as Job<JobData, JobResult> | undefined;
      if (job && (await job.getState()) === 'failed') {
        await job.retry('failed');
        retried.push(j.id);
      }
    }
    await this.promoteReady(sweep);
    return retried;
  }
}
