/**
 * `robustgpu tune MODEL`: times the kernel variants of every GEMM-shaped layer of one training step of a model
 * (matmuls, conv2d forward, input and weight gradients) on this adapter and caches the fastest per shape class
 * (engine/tune.ts), so that later runs start with them.
 */
import { Device, setDefaultDevice } from '../engine/device.js';
import { tensor } from '../engine/create.js';
import { Generator, rand } from '../engine/rng.js';
import { scope } from '../engine/scope.js';
import { SGD } from '../engine/optim/index.js';
import { buildModel, MODELS, MODEL_PATTERNS, modelInput } from '../nn/models/index.js';
import { choiceLabel } from '../kernels/choice.js';
import type { TuneResult } from '../engine/tune.js';
import { stepRecorders } from '../bench/steps.js';
import { STEP_NAMES } from '../bench/profile_cli.js';
import { parseCommand, numberOption, UsageError, type CommandSpec } from './args.js';
import { DEVICE_OPTIONS, deviceOptions } from './device_options.js';
import { table } from './table.js';
import { describeTuneCache } from './info.js';

export const tuneSpec: CommandSpec = {
  name: 'tune',
  summary: "Time the kernel variants of a model's matmuls and convolutions (one training step) on this adapter and cache the fastest per shape class.",
  usage: 'robustgpu tune MODEL [--batch N] [--step standard|pgd-10|pgd-at-10|trades-10] [--reps N] [--quick | --full] [--retune] [--json]',
  options: {
    batch: { type: 'string', arg: 'N', description: 'images per step (shape classes depend on it)', default: '128' },
    step: { type: 'string', arg: 'KIND', description: `the step whose layers are tuned: ${Object.keys(STEP_NAMES).join(', ')}`, default: 'standard' },
    activation: { type: 'string', arg: 'SPEC', description: 'activation (relu, silu, softplus:BETA, ...)', default: 'relu' },
    reps: { type: 'string', arg: 'N', description: 'timed repetitions per candidate, after one that compiles', default: '5' },
    quick: { type: 'boolean', description: 'time the default against one tile (64x64 k8) only (the default on a software adapter)' },
    full: { type: 'boolean', description: 'time every tile that fits the device (the default on a GPU)' },
    retune: { type: 'boolean', description: 'time again the classes the cache already has' },
    json: { type: 'boolean', description: 'print JSON' },
    ...DEVICE_OPTIONS,
  },
  positionals: 'MODEL',
  examples: ['robustgpu tune preact_resnet18 --batch 128', 'robustgpu tune smallcnn --batch 4 --quick', 'ROBUSTGPU_TUNE_CACHE=/tmp/t.json robustgpu tune wrn-28-10'],
};

function resultRow(r: TuneResult): (string | number)[] {
  const ms = r.entry.ms;
  const def = ms.default;
  const best = ms[choiceLabel(r.entry.choice)]!;
  return [r.op, r.shapeClass, r.shape, choiceLabel(r.entry.choice), best.toFixed(3), def === undefined ? '-' : def.toFixed(3), def ? `${(def / best).toFixed(2)}x` : '-'];
}

export async function tuneCommand(argv: string[]): Promise<number> {
  const p = parseCommand(tuneSpec, argv);
  if (!p) return 0;
  const name = p.positionals[0];
  if (!name || p.positionals.length > 1) throw new UsageError(`tune: expected one model name (${Object.keys(MODELS).join(', ')}, ${MODEL_PATTERNS}), got ${p.positionals.length}`);
  const kind = STEP_NAMES[p.values.step as string];
  if (!kind) throw new UsageError(`tune: --step expects one of ${Object.keys(STEP_NAMES).join(', ')}, got '${String(p.values.step)}'`);
  if (p.values.quick && p.values.full) throw new UsageError('tune: --quick and --full contradict each other');
  const batch = numberOption('tune', 'batch', p.values.batch, 128);
  const reps = numberOption('tune', 'reps', p.values.reps, 5);
  for (const [flag, v] of [['batch', batch], ['reps', reps]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`tune: --${flag} expects a positive integer, got '${String(p.values[flag])}'`);
  }
  const device = await Device.create({ ...deviceOptions(p.values), autotune: true });
  setDefaultDevice(device);
  const tuner = device.chooser;
  tuner.timing = { reps, quick: p.values.quick ? true : p.values.full ? false : undefined };
  try {
    if (p.values.retune) tuner.retune();
    const model = buildModel(name, { activation: p.values.activation as string, generator: new Generator(0) });
    const input = modelInput(name);
    const x = rand([batch, ...input], { generator: new Generator(1) });
    const y = tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), [batch]);
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const results: TuneResult[] = [];
    try {
      // The step meets every shape class (the ops run the cost model's choices meanwhile); then they are timed.
      scope(() => { stepRecorders(model, opt, { x, y }, input[0] === 1)[kind](); });
      const log = p.values.json ? () => {} : (r: TuneResult) => console.error(`  ${r.op} ${r.shapeClass}: ${choiceLabel(r.entry.choice)}`);
      results.push(...await tuner.tunePending(device, { onResult: log }));
    } finally {
      opt.dispose();
      model.dispose();
      x.dispose();
      y.dispose();
    }
    const state = tuner.state();
    const met = tuner.met.size;
    if (p.values.json) {
      console.log(JSON.stringify({ model: name, step: kind, batch, adapter: device.info.description, met, tuned: results, cache: state }, null, 2));
    } else {
      console.log(`${name}, ${kind} step, batch ${batch}, ${device.info.description || device.info.device}: ${met} shape classes, ${results.length} tuned now, ${met - results.length} already cached${p.values.retune ? '' : ' (--retune times them again)'}`);
      if (results.length) {
        console.log('');
        console.log(table(['op', 'shape class', 'timed on', 'choice', 'ms', 'default ms', 'gain'], results.map(resultRow)));
      }
      console.log(`\n${describeTuneCache(state).join('\n')}`);
    }
    return 0;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}
