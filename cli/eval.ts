/**
 * `robustgpu eval CHECKPOINT`: a thin layer over training/eval_checkpoint.ts (the evaluation protocol of
 * METHODS §8 on a split of a data set): a table, a JSON file (per attack: accuracy, per-example correctness,
 * time, settings), a progress bar per attack, and the sanity checks as warnings.
 */
import { writeFileSync } from 'node:fs';
import { Device, setDefaultDevice } from '../engine/device.js';
import { evalJson, evaluateCheckpoint } from '../training/eval_checkpoint.js';
import { EVAL_OPTIONS } from '../training/eval_options.js';
import { OptionError, type StringOpt } from '../training/options.js';
import { defineSchema } from './schema.js';
import { DEVICE_OPTIONS } from './device_options.js';
import { UsageError } from './args.js';
import { Progress } from './progress.js';
import { table } from './table.js';

const schema = defineSchema({
  name: 'eval',
  summary: 'Evaluate a checkpoint: clean, FGSM, PGD, AutoAttack and distributional (W-PGD, greedy-W) accuracy, with the sanity checks of METHODS §8.',
  usage: 'robustgpu eval CHECKPOINT [--n 1000] [--eps 0.1] [--norm linf] [--attacks clean,pgd,autoattack] [--json FILE]',
  options: {
    ...EVAL_OPTIONS,
    json: { kind: 'string', arg: 'FILE', description: 'write the full report (per-example correctness included) here' } as StringOpt,
    backend: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.backend!.description } as StringOpt,
    adapter: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.adapter!.description } as StringOpt,
  },
  positionals: 'CHECKPOINT',
  examples: ['robustgpu eval runs/trades/checkpoints/best.safetensors --n 1000 --json eval.json', 'robustgpu eval model.safetensors --model wrn-28-10 --dataset cifar10 --data ~/cifar --eps 0.031373 --attacks clean,autoattack'],
});

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export async function evalCommand(argv: string[]): Promise<number> {
  const p = schema.parse(argv);
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new UsageError(`eval: expected one checkpoint, got ${p.positionals.length} (see --help)`);
  const { json, backend, adapter, ...c } = p.values;
  for (const d of c.deltas) if (!(Number(d) > 0)) throw new UsageError(`eval: --deltas expects numbers > 0, got '${d}'`);
  const device = await Device.create({ backend, adapter });
  setDefaultDevice(device);
  try {
    let bar: Progress | null = null;
    let current = '';
    const path = p.positionals[0]!;
    console.log(`robustgpu eval: ${path} on the first ${c.n} images of the ${c.split} split, ${c.norm} eps ${c.eps}`);
    let e;
    try {
      e = await evaluateCheckpoint(path, c, {
        device,
        onProgress: (row, done, total) => {
          if (row !== current) { current = row; bar = new Progress(row, total, 'img'); }
          bar!.update(done);
        },
      });
    } catch (err) {
      if (err instanceof OptionError) throw new UsageError(err.message);
      throw err;
    }
    const rep = e.report;
    console.log(`model ${e.architecture}, data set ${e.dataset}${e.precision === 'float32' ? '' : `, precision ${e.precision}`}`);
    console.log(`\n${table(['attack', 'accuracy', 'seconds', 'settings'], rep.rows.map((r) => [r.attack, pct(r.accuracy), r.seconds.toFixed(1), summary(r.settings)]))}`);
    if (rep.checks.length) console.log(`\nchecks:\n${rep.checks.map((k) => `  ${k.ok ? 'ok  ' : 'FAIL'} ${k.name}: ${k.detail}`).join('\n')}`);
    for (const w of rep.warnings) console.error(`warning: ${w}`);
    if (json) {
      writeFileSync(json, `${JSON.stringify(evalJson(e), null, 2)}\n`);
      console.log(`\nwrote ${json}`);
    }
    return 0;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}

/** The settings that differ between rows, in one short line. */
function summary(s: Record<string, unknown>): string {
  const keep = ['steps', 'restarts', 'version', 'delta', 'by', 'queries'];
  return Object.entries(s).filter(([k]) => keep.includes(k)).map(([k, val]) => `${k} ${String(val)}`).join(', ');
}
