/**
 * The options of evaluating a checkpoint, declared once (training/options.ts): `robustgpu eval` derives its
 * flags and --help from them, and a sweep's eval job is checked against them.
 */
import type { Options } from './options.js';
import { DATASETS } from './data/datasets.js';
import { EVAL_ATTACKS } from './eval.js';
import { PRECISIONS } from '../engine/precision.js';

export const EVAL_OPTIONS = {
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
  precision: { kind: 'choice', choices: PRECISIONS, default: 'float32', description: 'f16-mixed: the model and every attack gradient with f16 operands in matmul and conv2d (no loss scaling: float32 is the reference)' },
  model: { kind: 'string', arg: 'NAME', description: 'architecture, for a checkpoint that does not say (a plain PyTorch state dict)' },
} as const satisfies Options;
