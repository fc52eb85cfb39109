/** `robustgpu model NAME`: layers, output shapes, parameter count and forward FLOPs of a model. */
import { Device, setDefaultDevice } from '../engine/device.js';
import { buildModel, MODELS, MODEL_PATTERNS, modelInput } from '../nn/models/index.js';
import { summarize } from '../nn/summary.js';
import { Generator } from '../engine/rng.js';
import { parseCommand, numberOption, UsageError, type CommandSpec } from './args.js';
import { deviceOptions, DEVICE_OPTIONS } from './device_options.js';
import { table } from './table.js';

export const modelSpec: CommandSpec = {
  name: 'model',
  summary: `Print a model's layers, output shapes, parameter count and forward FLOPs. Models: ${Object.keys(MODELS).join(', ')}, ${MODEL_PATTERNS}.`,
  usage: 'robustgpu model NAME [--activation SPEC] [--batch N] [--json]',
  options: {
    activation: { type: 'string', arg: 'SPEC', description: 'activation (relu, silu, softplus:BETA, psoftplus, ...)', default: 'relu' },
    batch: { type: 'string', arg: 'N', description: 'batch size for the FLOP count', default: '1' },
    json: { type: 'boolean', description: 'print JSON' },
    ...DEVICE_OPTIONS,
  },
  positionals: 'NAME',
  examples: ['robustgpu model wrn-28-10', 'robustgpu model resnet18 --activation silu'],
};

const human = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} K` : String(n));

export async function modelCommand(argv: string[]): Promise<number> {
  const p = parseCommand(modelSpec, argv);
  if (!p) return 0;
  const name = p.positionals[0];
  if (!name || p.positionals.length > 1) throw new UsageError(`model: expected one model name (${Object.keys(MODELS).join(', ')}, ${MODEL_PATTERNS}), got ${p.positionals.length}`);
  const batch = numberOption('model', 'batch', p.values.batch, 1);
  const device = await Device.create(deviceOptions(p.values));
  setDefaultDevice(device);
  try {
    const model = buildModel(name, { activation: p.values.activation as string, generator: new Generator(0) });
    const input = [batch, ...modelInput(name)];
    const s = summarize(model, input);
    model.dispose();
    if (p.values.json) console.log(JSON.stringify(s, null, 2));
    else {
      console.log(`${name} (activation ${p.values.activation}), input [${input}]`);
      console.log(table(['layer', 'type', 'output', 'params', 'FLOPs'], s.rows.map((r) => [r.name, r.type, `[${r.output}]`, r.params ? r.params.toLocaleString('en-US') : '-', r.flops ? human(r.flops) : '-'])));
      console.log(`\ntotal: ${s.params.toLocaleString('en-US')} parameters, ${human(s.flops)}FLOPs per forward at batch ${batch} (2 per multiply-add; conv and linear layers)`);
    }
    return 0;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}
