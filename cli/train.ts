/**
 * `robustgpu train`: a thin layer over training/run.ts. Options come from TRAIN_OPTIONS (declared once: the
 * flags, --help, the config-file keys and the echoed configuration all derive from it); `--resume RUN_DIR`
 * continues a run from its last checkpoint with the configuration it was started with.
 */
import { join } from 'node:path';
import { Device, setDefaultDevice } from '../engine/device.js';
import { readRunConfig, train, withInitModel } from '../training/run.js';
import { TRAIN_OPTIONS } from '../training/run_config.js';
import { defineSchema, type Schema } from './schema.js';
import { DEVICE_OPTIONS } from './device_options.js';
import { UsageError } from './args.js';
import { Progress } from './progress.js';
import { writeRunReport } from '../training/report/report.js';
import type { Options, Source, StringOpt } from '../training/options.js';

/** A training command's options: the run's own, then where it goes and on which device. */
export function runOptions<S extends Options>(options: S) {
  return {
    ...options,
    out: { kind: 'string', arg: 'RUN_DIR', description: 'the run directory (default runs/OBJECTIVE-MODEL-DATE)' } as StringOpt,
    resume: { kind: 'string', arg: 'RUN_DIR', description: 'continue this run from its last checkpoint (its own configuration; other options are refused)' } as StringOpt,
    backend: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.backend!.description } as StringOpt,
    adapter: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.adapter!.description } as StringOpt,
  };
}

const schema = defineSchema({
  name: 'train',
  summary: 'Train a classifier (standard, PGD-AT, TRADES or W-TRADES) on a GPU, or on lavapipe; writes a run directory.',
  usage: 'robustgpu train [--objective trades] [--model smallcnn] [--dataset fashion-mnist] [--epochs N] [--out RUN_DIR] [options]\n       robustgpu train --resume RUN_DIR',
  options: runOptions(TRAIN_OPTIONS),
  examples: [
    'robustgpu train --objective trades --activation silu --epochs 3',
    'robustgpu train --objective pgd-at --dataset cifar10 --data ~/cifar-10-batches-bin --model preact_resnet18 --eps 0.031373 --epochs 100',
    'robustgpu train --objective w-trades --init runs/trades/checkpoints/best.safetensors --epochs 3 --lr 0.01',
    'robustgpu train --resume runs/trades-smallcnn-2026-12-02',
  ],
});

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);

export async function trainCommand(argv: string[]): Promise<number> {
  return runTraining(schema, argv);
}

/**
 * Parses argv with a training schema (train's, or a preset's such as start's), trains, evaluates, and writes
 * and prints the run's report.
 */
export async function runTraining(schema: Schema<ReturnType<typeof runOptions<typeof TRAIN_OPTIONS>>>, argv: string[]): Promise<number> {
  const p = schema.parse(argv);
  if (!p) return 0;
  const { out, resume, backend, adapter, ...given } = p.values;
  let config = given as typeof given;
  let sources: Record<string, Source> = p.sources;
  let runDir = out ?? '';
  if (resume) {
    const extra = Object.entries(p.sources).filter(([k, s]) => s !== 'default' && !['resume', 'backend', 'adapter'].includes(k));
    if (extra.length) throw new UsageError(`${schema.name}: --resume continues a run with its own configuration; drop ${extra.map(([k]) => `--${k.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`).join(', ')}`);
    const r = readRunConfig(resume);
    config = r.config;
    sources = r.sources;
    runDir = resume;
  } else {
    ({ config, sources } = withInitModel(config, sources));
    if (!runDir) runDir = join('runs', `${config.objective}-${config.model}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
  }
  console.log(`robustgpu ${schema.name}: ${resume ? 'resuming' : 'starting'} ${runDir}`);
  console.log(schema.echo({ ...config, out: runDir, resume, backend, adapter } as never, { ...sources, out: out ? 'flag' : 'default', resume: resume ? 'flag' : 'default' } as never));
  const device = await Device.create({ backend, adapter });
  setDefaultDevice(device);
  let bar: Progress | null = null;
  let extra = '';
  try {
    const res = await train(config, runDir, {
      device, sources: sources as never, resume: !!resume,
      onStep: (step, e, n) => {
        if (e === 1 || !bar) bar = new Progress(`epoch ${Math.floor((step - 1) / n)}`, n, 'step');
        bar.update(e, extra);
      },
      onLog: (m) => { extra = `loss ${m.loss.toFixed(4)} acc ${pct(m.trainAccuracy)} ${m.imagesPerSec.toFixed(0)} img/s`; },
      onEpoch: (m) => console.log(`epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, train acc ${pct(m.trainAccuracy)}, held-out clean ${pct(m.eval?.clean)}, robust ${pct(m.eval?.robust)} (${m.seconds.toFixed(1)} s)`),
      onEvalProgress: (row, done, total) => { if (done === total) console.log(`  ${row}: ${total} images`); },
    });
    if (res.fit.reason === 'non-finite') {
      console.error(`robustgpu ${schema.name}: ${res.fit.message}; the last good checkpoint is ${join(runDir, 'checkpoints', 'last.safetensors')}`);
      return 1;
    }
    console.log(`stopped: ${res.fit.reason} at step ${res.fit.step}`);
    const rep = await writeRunReport(runDir);
    console.log(`\n== report\n${rep.text}`);
    for (const w of rep.warnings) console.log(`warning: ${w}`);
    console.log(`\nrun directory: ${runDir} (config.json, metrics.jsonl, checkpoints/, eval.json)\nreport:        ${rep.html}`);
    return 0;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}
