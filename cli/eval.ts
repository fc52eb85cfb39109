/**
 * `robustgpu eval CHECKPOINT`: the evaluation protocol of METHODS §8 (training/eval.ts) on a split of a data
 * set: a table, a JSON file (per attack: accuracy, per-example correctness, time, settings), a progress bar
 * per attack, and the sanity checks as warnings. The model is rebuilt from the checkpoint's own metadata.
 */
import { writeFileSync } from 'node:fs';
import { Device, setDefaultDevice } from '../engine/device.js';
import { tensor } from '../engine/create.js';
import { modelFromCheckpoint } from '../nn/model_io.js';
import { DATASETS, loadDataset } from '../training/data/datasets.js';
import { evaluate, EVAL_ATTACKS } from '../training/eval.js';
import type { Options } from '../training/options.js';
import { defineSchema } from './schema.js';
import { DEVICE_OPTIONS } from './device_options.js';
import { UsageError } from './args.js';
import { Progress } from './progress.js';
import { table } from './table.js';

const EVAL_OPTIONS = {
  dataset: { kind: 'choice', choices: Object.keys(DATASETS), description: "data set (default: the checkpoint's, else fashion-mnist)" },
  data: { kind: 'string', arg: 'DIR', description: "the data set's folder" },
  split: { kind: 'choice', choices: ['test', 'train'], default: 'test', description: 'which split' },
  n: { kind: 'int', min: 1, default: 1000, description: 'examples (the first N of the split; refused if the split has fewer)' },
  attacks: { kind: 'list', choices: EVAL_ATTACKS, default: ['clean', 'fgsm', 'pgd', 'autoattack', 'distributional'], description: 'rows, in order' },
  eps: { kind: 'number', above: 0, default: 0.1, description: 'radius in [0, 1] pixel units' },
  norm: { kind: 'choice', choices: ['linf', 'l2'], default: 'linf', description: 'threat model' },
  pgdSteps: { kind: 'int', min: 1, default: 20, description: 'PGD iterations (step 2.5 eps / steps)' },
  pgdRestarts: { kind: 'int', min: 1, default: 1, description: 'PGD restarts' },
  aaVersion: { kind: 'choice', choices: ['standard', 'plus'], default: 'standard', description: 'AutoAttack version' },
  deltas: { kind: 'list', arg: 'D1,D2', default: [], description: 'W_2 budgets of the distributional rows (default eps/4, eps/2, eps)' },
  batch: { kind: 'int', min: 1, default: 250, description: 'examples per attack batch' },
  seed: { kind: 'int', min: 0, default: 0, description: 'seed of the attacks' },
  skipChecks: { kind: 'bool', default: false, description: 'skip the sanity checks (their PGD runs on up to 500 examples)' },
  json: { kind: 'string', arg: 'FILE', description: 'write the full report (per-example correctness included) here' },
  model: { kind: 'string', arg: 'NAME', description: 'architecture, for a checkpoint that does not say (a plain PyTorch state dict)' },
  backend: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.backend!.description },
  adapter: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.adapter!.description },
} as const satisfies Options;

const schema = defineSchema({
  name: 'eval',
  summary: 'Evaluate a checkpoint: clean, FGSM, PGD, AutoAttack and distributional (W-PGD, greedy-W) accuracy, with the sanity checks of METHODS §8.',
  usage: 'robustgpu eval CHECKPOINT [--n 1000] [--eps 0.1] [--norm linf] [--attacks clean,pgd,autoattack] [--json FILE]',
  options: EVAL_OPTIONS,
  positionals: 'CHECKPOINT',
  examples: ['robustgpu eval runs/trades/checkpoints/best.safetensors --n 1000 --json eval.json', 'robustgpu eval model.safetensors --model wrn-28-10 --dataset cifar10 --data ~/cifar --eps 0.031373 --attacks clean,autoattack'],
});

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export async function evalCommand(argv: string[]): Promise<number> {
  const p = schema.parse(argv);
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new UsageError(`eval: expected one checkpoint, got ${p.positionals.length} (see --help)`);
  const v = p.values;
  const deltas = v.deltas.map((d) => {
    const x = Number(d);
    if (!(x > 0)) throw new UsageError(`eval: --deltas expects numbers > 0, got '${d}'`);
    return x;
  });
  const device = await Device.create({ backend: v.backend, adapter: v.adapter });
  setDefaultDevice(device);
  try {
    const { model, meta } = modelFromCheckpoint(p.positionals[0]!, { overrides: v.model ? { architecture: v.model } : {}, model: { device }, load: { strictBuffers: false } });
    const dataset = v.dataset ?? (typeof meta.dataset === 'string' ? meta.dataset : 'fashion-mnist');
    const set = loadDataset(dataset, v.split, { dir: v.data });
    if (v.n > set.n) throw new UsageError(`eval: --n ${v.n} asks for more examples than the ${dataset} ${v.split} split has (${set.n})`);
    const px = set.shape[0] * set.shape[1] * set.shape[2];
    const x = tensor(set.images.subarray(0, v.n * px), [v.n, ...set.shape], { device });
    const y = tensor(set.labels.subarray(0, v.n), [v.n], { device });
    console.log(`robustgpu eval: ${p.positionals[0]} (${String(meta.architecture ?? v.model)}) on the first ${v.n} images of ${dataset} ${v.split}, ${v.norm} eps ${v.eps}`);
    let bar: Progress | null = null;
    let current = '';
    const rep = await evaluate(model, x, y, {
      norm: v.norm, eps: v.eps, attacks: v.attacks as (typeof EVAL_ATTACKS)[number][], pgdSteps: v.pgdSteps, pgdRestarts: v.pgdRestarts,
      autoAttackVersion: v.aaVersion, deltas: deltas.length ? deltas : undefined, batchSize: v.batch, seed: v.seed, checks: !v.skipChecks,
      onProgress: (row, done, total) => {
        if (row !== current) { current = row; bar = new Progress(row, total, 'img'); }
        bar!.update(done);
      },
    });
    console.log(`\n${table(['attack', 'accuracy', 'seconds', 'settings'], rep.rows.map((r) => [r.attack, pct(r.accuracy), r.seconds.toFixed(1), summary(r.settings)]))}`);
    if (rep.checks.length) console.log(`\nchecks:\n${rep.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`).join('\n')}`);
    for (const w of rep.warnings) console.error(`warning: ${w}`);
    if (v.json) {
      writeFileSync(v.json, `${JSON.stringify({ checkpoint: p.positionals[0], dataset, split: v.split, ...rep, rows: rep.rows.map((r) => ({ ...r, correct: Array.from(r.correct).join('') })) }, null, 2)}\n`);
      console.log(`\nwrote ${v.json}`);
    }
    x.dispose();
    y.dispose();
    model.dispose();
    return 0;
  } finally {
    setDefaultDevice(null);
    device.destroy();
  }
}

/** The settings that differ between rows, in one short line. */
function summary(s: Record<string, unknown>): string {
  const keep = ['steps', 'restarts', 'version', 'delta', 'by', 'queries'];
  return Object.entries(s).filter(([k]) => keep.includes(k)).map(([k, val]) => `${k} ${String(val)}`).join(', ');
}
