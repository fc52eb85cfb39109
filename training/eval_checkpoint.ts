/**
 * Evaluating a checkpoint file (what `robustgpu eval` and a sweep's eval job do): the model rebuilt from
 * the checkpoint's metadata, the first N images of a split, the rows of training/eval.ts. Options are
 * those of EVAL_OPTIONS, validated.
 */
import type { Device } from '../engine/device.js';
import { tensor } from '../engine/create.js';
import { modelFromCheckpoint } from '../nn/model_io.js';
import { loadDataset } from './data/datasets.js';
import { evaluate, type EvalAttack, type EvalReport } from './eval.js';
import { EVAL_OPTIONS } from './eval_options.js';
import { OptionError, resolveOptions, type Values } from './options.js';
import { setPrecision, type Precision } from '../engine/precision.js';

export type EvalConfig = Values<typeof EVAL_OPTIONS>;

export interface CheckpointEval {
  checkpoint: string;
  dataset: string;
  split: string;
  architecture: string;
  /** What the model and the attacks ran at (EVAL_OPTIONS.precision). */
  precision: Precision;
  report: EvalReport;
}

/** Validates a (partial) eval config against EVAL_OPTIONS, filling in the defaults. */
export function evalConfig(partial: Record<string, unknown> = {}, what = 'eval config'): EvalConfig {
  const c = resolveOptions(EVAL_OPTIONS, { config: partial, configName: what }).values;
  for (const d of c.deltas) if (!(Number(d) > 0)) throw new OptionError(`${what}: key 'deltas' expects numbers > 0, got '${d}'`);
  return c;
}

export async function evaluateCheckpoint(path: string, c: EvalConfig, opts: { device: Device; onProgress?: (row: string, done: number, total: number) => void }): Promise<CheckpointEval> {
  const { device } = opts;
  const { model, meta } = modelFromCheckpoint(path, { overrides: c.model ? { architecture: c.model } : {}, model: { device }, load: { strictBuffers: false } });
  try {
    const dataset = c.dataset ?? (typeof meta.dataset === 'string' ? meta.dataset : 'fashion-mnist');
    const set = loadDataset(dataset, c.split, { dir: c.data });
    if (c.n > set.n) throw new OptionError(`eval: --n ${c.n} asks for more examples than the ${dataset} ${c.split} split has (${set.n})`);
    const px = set.shape[0] * set.shape[1] * set.shape[2];
    const x = tensor(set.images.subarray(0, c.n * px), [c.n, ...set.shape], { device });
    const y = tensor(set.labels.subarray(0, c.n), [c.n], { device });
    try {
      const deltas = c.deltas.map(Number);
      const prev = setPrecision(c.precision, device);
      let report: EvalReport;
      try {
        report = await evaluate(model, x, y, {
          norm: c.norm, eps: c.eps, attacks: c.attacks as EvalAttack[], pgdSteps: c.pgdSteps, pgdRestarts: c.pgdRestarts,
          autoAttackVersion: c.aaVersion, deltas: deltas.length ? deltas : undefined, batchSize: c.batch, seed: c.seed, checks: !c.skipChecks,
          onProgress: opts.onProgress,
        });
      } finally {
        setPrecision(prev, device);
      }
      return { checkpoint: path, dataset, split: c.split, architecture: String(meta.architecture ?? c.model), precision: c.precision, report };
    } finally {
      x.dispose();
      y.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** The report as JSON-ready data (per-example correctness as a string of 0s and 1s). */
export function evalJson(e: CheckpointEval): Record<string, unknown> {
  return { checkpoint: e.checkpoint, dataset: e.dataset, split: e.split, precision: e.precision, ...e.report, rows: e.report.rows.map((r) => ({ ...r, correct: Array.from(r.correct).join('') })) };
}
