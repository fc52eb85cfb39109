/**
 * Standalone entry: `node dist/bench/memory_peak_main.js [--model A,B] [--batch N,M] [--attack-steps K,L] [--precision P,Q] [--json]`:
 * the peak memory of one TRADES step (bench/memory_peak.ts) for every combination, one table row each.
 * The memory budget is the device's (ROBUSTGPU_MEMORY_BUDGET to change it). --record-only allocates and records
 * without dispatching (DeviceOptions.recordOnly): the in-use peak of a step too large to run here.
 */
import { Device } from '../engine/device.js';
import { parseCommand, UsageError, type CommandSpec } from '../cli/args.js';
import { DEVICE_OPTIONS, deviceOptions } from '../cli/device_options.js';
import { table } from '../cli/table.js';
import { measureStepPeak, type PeakRow } from './memory_peak.js';
import { PRECISIONS, type Precision } from '../engine/precision.js';

const spec: CommandSpec = {
  name: 'memory_peak',
  summary: 'Peak GPU memory of one TRADES step from a fresh model and optimizer (held by the pool, and in use).',
  usage: 'node dist/bench/memory_peak_main.js [--model NAMES] [--batch NS] [--attack-steps KS] [--json]',
  options: {
    model: { type: 'string', arg: 'NAMES', description: 'comma-separated model names (robustgpu model --help)', default: 'preact_resnet18,wrn-34-10' },
    batch: { type: 'string', arg: 'NS', description: 'comma-separated batch sizes', default: '128' },
    'attack-steps': { type: 'string', arg: 'KS', description: 'comma-separated TRADES attack steps', default: '10' },
    precision: { type: 'string', arg: 'PS', description: `comma-separated precisions (${PRECISIONS.join(', ')})`, default: 'float32' },
    json: { type: 'boolean', description: 'print one JSON document' },
    'record-only': { type: 'boolean', description: 'allocate and record, dispatch nothing: the allocator peaks of a step too large to run (values meaningless)' },
    ...DEVICE_OPTIONS,
  },
};

function ints(flag: string, v: unknown): number[] {
  const out = String(v).split(',').map((s) => Number(s.trim()));
  if (!out.length || out.some((n) => !(Number.isInteger(n) && n >= 1))) throw new UsageError(`memory_peak: --${flag} expects positive integers separated by commas, got '${String(v)}'`);
  return out;
}

const MIB = 2 ** 20;

async function main(argv: string[]): Promise<number> {
  const p = parseCommand(spec, argv);
  if (!p) return 0;
  const v = p.values;
  const models = String(v.model).split(',').map((s) => s.trim()).filter(Boolean);
  const batches = ints('batch', v.batch);
  const steps = ints('attack-steps', v['attack-steps']);
  const precisions = String(v.precision).split(',').map((s) => s.trim());
  for (const q of precisions) if (!(PRECISIONS as readonly string[]).includes(q)) throw new UsageError(`memory_peak: --precision expects ${PRECISIONS.join(', ')} separated by commas, got '${q}'`);
  const device = await Device.create({ ...deviceOptions(v), recordOnly: v['record-only'] === true });
  const rows: PeakRow[] = [];
  try {
    for (const model of models) for (const batch of batches) for (const attackSteps of steps) for (const precision of precisions as Precision[]) {
      const r = await measureStepPeak(device, { model, batch, attackSteps, precision });
      rows.push(r);
      process.stderr.write(`${model} b${batch} TRADES-${attackSteps} ${precision}: held ${(r.heldBytes / MIB).toFixed(1)} MiB, in use ${(r.inUseBytes / MIB).toFixed(1)} MiB (${r.seconds.toFixed(1)} s)\n`);
    }
    const adapter = device.info.description || device.info.device;
    if (v.json) {
      console.log(JSON.stringify({ adapter, date: new Date().toISOString(), memoryBudgetBytes: device.memoryBudgetBytes, recordOnly: device.recordOnly, rows }, null, 1));
    } else {
      console.log(`adapter ${adapter}, memory budget ${(device.memoryBudgetBytes / MIB).toFixed(0)} MiB${device.recordOnly ? ', record only (nothing dispatched)' : ''}\n`);
      console.log(table(['step', 'held MiB', 'in use MiB', 'after MiB', 'memory submits', 'submits', 'dispatches', 's'], rows.map((r) => [
        `${r.model} b${r.batch} TRADES-${r.attackSteps}${r.precision === 'f16-mixed' ? ' f16-mixed' : ''}`, (r.heldBytes / MIB).toFixed(1), (r.inUseBytes / MIB).toFixed(1), (r.afterBytes / MIB).toFixed(1),
        r.flushesForMemory, r.submissions, r.dispatches, r.seconds.toFixed(1),
      ])));
    }
    return 0;
  } finally {
    await device.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  console.error(e instanceof Error ? `memory_peak: ${e.message}` : e);
  process.exit(e instanceof UsageError ? 2 : 1);
});
