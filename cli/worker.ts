/**
 * `robustgpu worker --queue URL`: one process per GPU, taking sweep jobs from the queue one at a time until
 * stopped (SIGINT/SIGTERM finish the current job's lock cleanly; kill -9 leaves it to the stalled check and
 * another worker resumes it from its checkpoint). A thin layer over training/sweep/worker.ts.
 */
import { Device, setDefaultDevice } from '../engine/device.js';
import { parseQueueUrl, QueueUrlError } from '../training/sweep/queue.js';
import { startWorker } from '../training/sweep/worker.js';
import type { Options } from '../training/options.js';
import { defineSchema } from './schema.js';
import { DEVICE_OPTIONS } from './device_options.js';
import { UsageError } from './args.js';

const OPTIONS = {
  queue: { kind: 'string', arg: 'URL', description: 'the Redis of the sweep (redis://HOST:PORT/DB)' },
  lockSeconds: { kind: 'number', above: 0, default: 30, arg: 'SECONDS', description: "seconds without this worker's heartbeat before another worker takes its job over" },
  maxJobs: { kind: 'int', min: 1, arg: 'N', description: 'stop after N jobs (default: run until stopped)' },
  name: { kind: 'string', arg: 'NAME', description: 'how this worker shows in the status table (default HOST:PID)' },
  backend: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.backend!.description },
  adapter: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.adapter!.description },
} as const satisfies Options;

const schema = defineSchema({
  name: 'worker',
  summary: 'Take sweep jobs from a Redis queue and run them on this machine\'s GPU, one at a time (robustgpu sweep --queue submits them).',
  usage: 'robustgpu worker --queue redis://HOST:PORT/DB [--lock-seconds 30]',
  options: OPTIONS,
  examples: ['robustgpu worker --queue redis://gpu-head:6379/0', 'CUDA_VISIBLE_DEVICES=1 robustgpu worker --queue redis://gpu-head:6379/0 --name gpu1'],
});

export async function workerCommand(argv: string[]): Promise<number> {
  const p = schema.parse(argv);
  if (!p) return 0;
  const v = p.values;
  if (!v.queue) throw new UsageError('worker: needs --queue redis://HOST:PORT/DB');
  let connection;
  try {
    connection = parseQueueUrl(v.queue);
  } catch (e) {
    if (e instanceof QueueUrlError) throw new UsageError(`worker: ${e.message}`);
    throw e;
  }
  const device = await Device.create({ backend: v.backend, adapter: v.adapter });
  setDefaultDevice(device);
  const w = startWorker(connection, { device, lockSeconds: v.lockSeconds, maxJobs: v.maxJobs, name: v.name, onEvent: (m) => console.log(m) });
  const stop = () => { console.log(`${w.name}: stopping`); void w.close(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`${w.name}: waiting for jobs on ${v.queue}`);
  try {
    await w.done;
    return 0;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}
