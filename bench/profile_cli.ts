/** `robustgpu profile MODEL`: GPU time per kernel of one training step (bench/profile.ts). */
import { Device, setDefaultDevice } from '../engine/device.js';
import { tensor } from '../engine/create.js';
import { Generator, rand } from '../engine/rng.js';
import { SGD } from '../engine/optim/index.js';
import { buildModel, MODELS, MODEL_PATTERNS, modelInput } from '../nn/models/index.js';
import { parseCommand, numberOption, UsageError, type CommandSpec } from '../cli/args.js';
import { DEVICE_OPTIONS, deviceOptions } from '../cli/device_options.js';
import { table } from '../cli/table.js';
import { stepRecorders, type StepKind } from './steps.js';
import { profileKernels, type StepProfile } from './profile.js';

export const STEP_NAMES: Record<string, StepKind> = { standard: 'standard', 'pgd-10': 'pgd-10 attack', 'pgd-at-10': 'pgd-at-10', 'trades-10': 'trades-10' };

export const profileSpec: CommandSpec = {
  name: 'profile',
  summary: 'GPU time per kernel of one training step (GPU timestamp queries; the adapter must offer them).',
  usage: 'robustgpu profile MODEL [--step standard|pgd-10|pgd-at-10|trades-10] [--batch N] [--reps N] [--activation SPEC] [--json]',
  options: {
    step: { type: 'string', arg: 'KIND', description: `the step: ${Object.keys(STEP_NAMES).join(', ')} (pgd-10 is the attack alone)`, default: 'standard' },
    batch: { type: 'string', arg: 'N', description: 'images per step', default: '64' },
    reps: { type: 'string', arg: 'N', description: 'profiled repetitions averaged (after one compiling run)', default: '3' },
    activation: { type: 'string', arg: 'SPEC', description: 'activation (relu, silu, softplus:BETA, ...)', default: 'relu' },
    json: { type: 'boolean', description: 'print JSON' },
    ...DEVICE_OPTIONS,
  },
  positionals: 'MODEL',
  examples: ['robustgpu profile smallcnn', 'robustgpu profile preact_resnet18 --step pgd-10 --batch 8'],
};

export function formatProfile(p: StepProfile): string {
  let cum = 0;
  const rows = p.kernels.map((k) => {
    cum += k.share;
    return [k.kernel, k.dispatches, k.ms.toFixed(2), `${(100 * k.share).toFixed(1)}%`, `${(100 * cum).toFixed(1)}%`];
  });
  return [
    table(['kernel', 'dispatches', 'GPU ms', 'share', 'cumulative'], rows),
    '',
    `GPU time ${p.gpuMs.toFixed(1)} ms per step (each dispatch in its own timed pass), mean of ${p.reps}; wall time unprofiled ${p.wallMs.toFixed(1)} ms (median).`,
  ].join('\n');
}

export async function profileCommand(argv: string[]): Promise<number> {
  const p = parseCommand(profileSpec, argv);
  if (!p) return 0;
  const name = p.positionals[0];
  if (!name || p.positionals.length > 1) throw new UsageError(`profile: expected one model name (${Object.keys(MODELS).join(', ')}, ${MODEL_PATTERNS}), got ${p.positionals.length}`);
  const kind = STEP_NAMES[p.values.step as string];
  if (!kind) throw new UsageError(`profile: --step expects one of ${Object.keys(STEP_NAMES).join(', ')}, got '${String(p.values.step)}'`);
  const batch = numberOption('profile', 'batch', p.values.batch, 64);
  const reps = numberOption('profile', 'reps', p.values.reps, 3);
  for (const [flag, v] of [['batch', batch], ['reps', reps]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`profile: --${flag} expects a positive integer, got '${String(p.values[flag])}'`);
  }
  const device = await Device.create(deviceOptions(p.values));
  setDefaultDevice(device);
  try {
    if (!device.hasTimestamps) throw new UsageError(`profile: adapter '${device.info.description || device.info.device}' offers no timestamp queries; use robustgpu bench for wall-clock times`);
    const model = buildModel(name, { activation: p.values.activation as string, generator: new Generator(0) });
    const input = modelInput(name);
    const x = rand([batch, ...input], { generator: new Generator(1) });
    const y = tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), [batch]);
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
    try {
      const prof = await profileKernels(device, stepRecorders(model, opt, { x, y }, input[0] === 1)[kind], reps);
      if (p.values.json) console.log(JSON.stringify({ model: name, step: kind, batch, adapter: device.info.description, ...prof }, null, 2));
      else console.log(`${name}, ${kind} step, batch ${batch}, ${device.info.description || device.info.device}\n\n${formatProfile(prof)}`);
    } finally {
      opt.dispose();
      model.dispose();
      x.dispose();
      y.dispose();
    }
    return 0;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}

