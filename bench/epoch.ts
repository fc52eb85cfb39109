/**
 * Whole training jobs (suite 'epoch'): `robustgpu train`'s own work (training/run.ts) timed end to end and
 * once, because a step row leaves out what an epoch pays besides its steps: loading and splitting the data,
 * the loader's uploads and augmentation, compiling, the held-out evaluation after the epoch, the checkpoint
 * writes, and the final clean + PGD-20 evaluation on the test images. The row's img/s is training images over
 * that whole wall time; the notes split it (training, final evaluation, the rest) and give the accuracies.
 *
 * The jobs are TRADES-5 (beta 6, eps 0.1 on Fashion-MNIST, 8/255 on 32x32 colour images, SGD, cosine):
 * ConvNet-16 with SiLU on Fashion-MNIST (the job of `npm start`), and PreAct ResNet-18 on the synthetic
 * CIFAR-shaped set (no CIFAR ships with the project; its crop-and-flip augmentation runs as on CIFAR).
 * `bench/torch/torch_epoch.py --bench quick|full --out FILE` runs the same jobs (its JOBS; a test compares the two
 * lists) and writes rows of the same names, for `--against`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { START_DEFAULTS, type TrainConfig } from '../training/run_config.js';
import { train, trainConfig } from '../training/run.js';
import { DATASETS } from '../training/data/datasets.js';
import type { BenchContext } from './context.js';
import { withRates } from './report.js';

export interface EpochJob {
  /** The row name, e.g. 'convnet-16 trades-5 fashion-mnist b128'. */
  name: string;
  /** `robustgpu train` options; the rest are TRAIN_OPTIONS' defaults. */
  config: Partial<TrainConfig>;
  /** What was scaled down from the full configuration, for the notes. */
  scaled?: string;
}

const tradesJob = { objective: 'trades', attackSteps: 5, epochs: 1, finalEval: ['clean', 'pgd'], finalPgdSteps: 20, logEvery: 1000 } as const satisfies Partial<TrainConfig>;

/**
 * Full: the whole `npm start` job (one epoch of the 59k training images, PGD-20 on the 10k test images) and
 * one epoch of the 4.5k synthetic images through a full-width PreAct-18 at batch 128. Quick (lavapipe): the
 * same jobs on the first 8,680 Fashion-MNIST training images (an epoch of 60 steps) with 1,000 test images,
 * and a width-16 PreAct-18 at batch 32 on 740 synthetic images (20 steps) with 200 test images.
 */
export function epochJobs(quick: boolean): EpochJob[] {
  const convnet = { ...START_DEFAULTS, ...tradesJob, dataset: 'fashion-mnist' } satisfies Partial<TrainConfig>;
  const preact = { ...tradesJob, model: 'preact_resnet18', dataset: 'synthetic', eps: 8 / 255, heldOut: 500, evalN: 500 } satisfies Partial<TrainConfig>;
  if (quick) {
    return [
      { name: 'convnet-16 trades-5 fashion-mnist b128 n7680', config: { ...convnet, trainLimit: 8680, finalN: 1000 }, scaled: '7,680 training images (of 59,000), 1,000 test images (of 10,000)' },
      {
        name: 'preact_resnet18-16 trades-5 synthetic b32 n640',
        config: { ...preact, model: 'preact_resnet18-16', batch: 32, trainLimit: 740, heldOut: 100, evalN: 100, finalN: 200 },
        scaled: 'width 16 (of 64), batch 32 (of 128), 640 training images (of 4,500), 200 test images (of 1,000)',
      },
    ];
  }
  return [
    { name: 'convnet-16 trades-5 fashion-mnist b128', config: convnet },
    { name: 'preact_resnet18 trades-5 synthetic b128', config: { ...preact, batch: 128 } },
  ];
}

export async function epochSuite(ctx: BenchContext, jobs: EpochJob[] = epochJobs(ctx.quick)): Promise<void> {
  for (const job of jobs) {
    if (ctx.wants('epoch', job.name)) await ctx.group('epoch', [job.name], () => runJob(ctx, job));
  }
}

async function runJob(ctx: BenchContext, job: EpochJob): Promise<void> {
  const { config } = trainConfig(job.config);
  const dir = mkdtempSync(join(tmpdir(), 'robustgpu-epoch-'));
  const device = ctx.device;
  let epochEnd = NaN;
  let trainSeconds = NaN;
  let steps = 0;
  try {
    const s0 = device.stats();
    const t0 = performance.now();
    const result = await train(config, join(dir, 'run'), {
      device,
      onStep: (s) => { steps = s; },
      onEpoch: (m) => { epochEnd = performance.now(); trainSeconds = m.seconds; },
    });
    await device.sync();
    const end = performance.now();
    const s1 = device.stats();
    if (!Number.isFinite(epochEnd)) throw new Error(`epoch ${job.name}: the run stopped before the end of its epoch (${result.fit.reason}${result.fit.message ? `: ${result.fit.message}` : ''})`);
    const images = steps * config.batch;
    const totalMs = end - t0;
    const finalSeconds = (end - epochEnd) / 1e3;
    const acc = (i: number) => `${(100 * (result.eval?.rows[i]?.accuracy ?? NaN)).toFixed(2)}%`;
    const spec = DATASETS[config.dataset]!;
    ctx.add([withRates({
      suite: 'epoch', name: job.name, reps: 1, clock: 'wall', medianMs: totalMs,
      shape: `[${config.batch},${spec.shape.join(',')}] ${config.model} ${config.activation}, TRADES-${config.attackSteps} eps ${config.eps === 0.1 ? '0.1' : '8/255'}, ` +
        `1 epoch of ${images} images (${steps} steps), held-out ${config.evalN} (PGD-${config.evalPgdSteps}), test ${result.eval?.n ?? 0} (clean, PGD-${config.finalPgdSteps}, sanity checks); img/s = training images / whole wall time`,
      dispatches: s1.dispatches - s0.dispatches, submissions: s1.submissions - s0.submissions,
      notes: [
        `training ${trainSeconds.toFixed(1)} s (${(images / trainSeconds).toFixed(1)} img/s), final evaluation ${finalSeconds.toFixed(1)} s, ` +
        `the rest (data, set-up, held-out evaluation, checkpoints) ${(totalMs / 1e3 - trainSeconds - finalSeconds).toFixed(1)} s; test clean ${acc(0)}, PGD-${config.finalPgdSteps} ${acc(1)}`,
        job.scaled,
      ].filter(Boolean).join('; '),
    }, images)]);
    ctx.log(`epoch ${job.name}: ${(totalMs / 1e3).toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
