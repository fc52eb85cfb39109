/** Sweeps: specs expanded into jobs, run locally one after another or fanned out over workers through BullMQ on Redis. */
export { readSweep, expandSweep, SweepSpecError, JOB_KINDS } from './spec.js';
export type { SweepSpec, JobSpec, JobKind, SweepJob, Sweep } from './spec.js';
export { runJob, finishedResult } from './run_job.js';
export type { JobResult, JobProgress } from './run_job.js';
export { runSweepLocal, writeSweepFile } from './local.js';
export type { LocalSweepOptions } from './local.js';
export { SweepQueue, parseQueueUrl, jobIdOf, QUEUE_NAME, QueueUrlError } from './queue.js';
export type { JobData, JobState, JobStatus } from './queue.js';
export { startWorker } from './worker.js';
export type { WorkerOptions, SweepWorker } from './worker.js';
export { writeSweepReport, sweepParts, isSweepDir } from './report.js';
