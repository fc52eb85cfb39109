/** `robustgpu soak` (npm run soak): many TRADES steps checked for growth (bench/soak.ts); exit code 1 when something grew. */
import { Device } from '../engine/device.js';
import { parseCommand, numberOption, UsageError, type CommandSpec } from '../cli/args.js';
import { DEVICE_OPTIONS, deviceOptions } from '../cli/device_options.js';
import { formatSoak, runSoak, SOAK_DEFAULTS } from './soak.js';

export const soakSpec: CommandSpec = {
  name: 'soak',
  summary: 'Run many TRADES steps of the small CNN and fail (exit code 1) if live tensors, pooled bytes or buffers grow\n' +
    'after warm-up, or process RSS grows by more than a margin.',
  usage: 'robustgpu soak [--steps N] [--batch N] [--read-every K] [--attack-steps N] [--rss-margin MIB] [--synthetic] [--json]',
  options: {
    steps: { type: 'string', arg: 'N', description: 'training steps', default: String(SOAK_DEFAULTS.steps) },
    batch: { type: 'string', arg: 'N', description: 'images per step', default: String(SOAK_DEFAULTS.batch) },
    'read-every': { type: 'string', arg: 'K', description: 'read the loss every K steps (the warm-up is 2K steps)', default: String(SOAK_DEFAULTS.readEvery) },
    'attack-steps': { type: 'string', arg: 'N', description: 'TRADES attack steps', default: String(SOAK_DEFAULTS.attackSteps) },
    'rss-margin': { type: 'string', arg: 'MIB', description: 'allowed RSS growth after warm-up', default: String(SOAK_DEFAULTS.rssMarginMiB) },
    synthetic: { type: 'boolean', description: 'noise images instead of Fashion-MNIST' },
    json: { type: 'boolean', description: 'print the report as JSON' },
    ...DEVICE_OPTIONS,
  },
  examples: ['robustgpu soak', 'robustgpu soak --steps 40 --batch 8 --read-every 5', 'robustgpu soak --json > soak.json'],
};

export async function soakCommand(argv: string[]): Promise<number> {
  const p = parseCommand(soakSpec, argv);
  if (!p) return 0;
  const v = p.values;
  const int = (flag: string, fallback: number) => {
    const n = numberOption('soak', flag, v[flag], fallback);
    if (!(Number.isInteger(n) && n >= 1)) throw new UsageError(`soak: --${flag} expects a positive integer, got '${String(v[flag])}'`);
    return n;
  };
  const cfg = {
    steps: int('steps', SOAK_DEFAULTS.steps), batch: int('batch', SOAK_DEFAULTS.batch), readEvery: int('read-every', SOAK_DEFAULTS.readEvery),
    attackSteps: int('attack-steps', SOAK_DEFAULTS.attackSteps), rssMarginMiB: numberOption('soak', 'rss-margin', v['rss-margin'], SOAK_DEFAULTS.rssMarginMiB),
    data: v.synthetic ? 'synthetic' as const : 'fashion-mnist' as const,
  };
  if (cfg.steps < 4 * cfg.readEvery) throw new UsageError(`soak: --steps (${cfg.steps}) must be at least twice the warm-up (2 x --read-every = ${2 * cfg.readEvery})`);
  const device = await Device.create(deviceOptions(v));
  try {
    const r = await runSoak(device, cfg);
    console.log(v.json ? JSON.stringify({ adapter: device.info.description || device.info.device, date: new Date().toISOString(), ...r }, null, 1) : formatSoak(r));
    return r.failures.length ? 1 : 0;
  } finally {
    await device.close();
  }
}
