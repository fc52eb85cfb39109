/**
 * A sweep worker: one process per GPU, one job at a time from the queue. Progress (phase, epoch, step, loss,
 * the fraction done and the worker's name) goes into the job; BullMQ's lock renewal is the heartbeat, so a
 * worker that dies (kill -9, a machine lost) leaves a job that the stalled check hands to another worker
 * after `lockSeconds`, and that worker resumes the run from its last checkpoint (run_job.ts). A job whose
 * options are refused fails once, with the message (no retries).
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Device } from '../../engine/device.js';
import { OptionError } from '../options.js';
import { CheckpointError } from '../../nn/checkpoint.js';
import { runJob, type JobResult } from './run_job.js';
import { QUEUE_NAME, SweepQueue, type JobData } from './queue.js';

export interface WorkerOptions {
  device: Device;
  /** Seconds a job's lock lasts without renewal before another worker may take the job over. */
  lockSeconds?: number;
  /** Stop after this many jobs (tests; default: run until closed). */
  maxJobs?: number;
  name?: string;
  onEvent?: (message: string) => void;
}

export interface SweepWorker {
  readonly name: string;
  /** Resolves when the worker has stopped (after maxJobs, or close()). */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

export function startWorker(connection: ConnectionOptions, o: WorkerOptions): SweepWorker {
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const lockMs = Math.round((o.lockSeconds ?? 30) * 1000);
  const sq = new SweepQueue(connection);
  let jobs = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  // One job at a time on the device: the processor's work is serialised by concurrency 1.
  const worker = new Worker<JobData, JobResult>(QUEUE_NAME, async (job: Job<JobData, JobResult>) => {
    const { job: sj } = job.data;
    o.onEvent?.(`${name}: ${sj.id} (attempt ${job.attemptsMade + 1})`);
    let last = 0;
    try {
      return await runJob(sj, {
        device: o.device,
        onProgress: (p) => {
          const now = Date.now();
          if (now - last < 500 && p.fraction !== 1) return;
          last = now;
          void job.updateProgress({ ...p, worker: name });
        },
      });
    } catch (e) {
      if (e instanceof OptionError || e instanceof CheckpointError || (e instanceof Error && e.name === 'RangeError')) throw new UnrecoverableError(`${sj.id}: ${e.message}`);
      throw e;
    }
  }, { connection, concurrency: 1, lockDuration: lockMs, stalledInterval: Math.max(500, Math.round(lockMs / 2)), maxStalledCount: 3, autorun: true });

  worker.on('completed', (job) => {
    jobs++;
    o.onEvent?.(`${name}: ${job.data.job.id} completed`);
    void (async () => {
      const sweep = await sq.loadSweep(job.data.sweep);
      if (sweep) {
        const added = await sq.promoteReady(sweep);
        if (added.length) o.onEvent?.(`${name}: enqueued ${added.join(', ')}`);
      }
      if (o.maxJobs !== undefined && jobs >= o.maxJobs) await close();
    })();
  });
  worker.on('failed', (job, err) => {
    if (job) o.onEvent?.(`${name}: ${job.data.job.id} failed: ${err.message}`);
  });
  worker.on('error', (err) => o.onEvent?.(`${name}: ${err.message}`));

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      await worker.close();
      await sq.close();
      resolveDone();
    })();
    return closing;
  };
  return { name, done, close };
}
