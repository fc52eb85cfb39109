/**
 * The options of `robustgpu soup SUBCOMMAND`, declared once (training/options.ts): the options every
 * subcommand shares, those of the subcommands that make a soup, and each method's own. One schema per
 * subcommand, so that `robustgpu soup learned --help` lists exactly what `learned` takes.
 */
import { DATASETS } from '../training/data/datasets.js';
import { EVAL_ATTACKS } from '../training/eval.js';
import type { Options, Values } from '../training/options.js';
import type { SoupCommand } from '../training/soups/run.js';
import { DEVICE_OPTIONS } from './device_options.js';
import { defineSchema } from './schema.js';

const COMMON = {
  dataset: { kind: 'choice', choices: Object.keys(DATASETS), description: "data set (default: the first ingredient's, else fashion-mnist)" },
  data: { kind: 'string', arg: 'DIR', description: "the data set's folder" },
  heldOut: { kind: 'int', min: 1, arg: 'N', description: "held-out training images every choice is made on (default: the first ingredient's training run's held-out split, else 1000, seeded)" },
  eps: { kind: 'number', above: 0, default: 0.1, description: 'attack radius in [0, 1] pixel units' },
  norm: { kind: 'choice', choices: ['linf', 'l2'], default: 'linf', description: 'threat model' },
  pgdSteps: { kind: 'int', min: 1, default: 10, description: 'PGD steps of the held-out evaluations (step 2.5 eps / steps)' },
  testN: { kind: 'int', min: 0, default: 1000, arg: 'N', description: 'test images of the final table (the first N of the test split; 0: none)' },
  finalAttacks: { kind: 'list', choices: EVAL_ATTACKS, default: ['clean', 'pgd'], description: 'the final evaluation on the test split, rows in order' },
  finalPgdSteps: { kind: 'int', min: 1, default: 20, description: 'PGD steps of the final evaluation' },
  batch: { kind: 'int', min: 1, default: 250, description: 'images per evaluation batch' },
  seed: { kind: 'int', min: 0, default: 0, description: 'seed of the attacks, batch order and BN images (and of the split when no training run is recorded)' },
  out: { kind: 'string', arg: 'DIR', description: 'where soup.safetensors, soup.json, plane.svg and report.html go (default runs/soup-METHOD-DATE)' },
  backend: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.backend!.description },
  adapter: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.adapter!.description },
} as const satisfies Options;

const SOUP = {
  criterion: { kind: 'choice', choices: ['clean', 'robust', 'weighted'], default: 'weighted', description: 'what the method maximises on the held-out split (weighted: w clean + (1 - w) PGD)' },
  cleanWeight: { kind: 'number', min: 0, max: 1, arg: 'W', description: 'w of the weighted criterion (default 0.5; implies --criterion weighted)' },
  force: { kind: 'bool', default: false, description: 'soup ingredients that fail the linear connectivity check anyway' },
  maxBarrier: { kind: 'number', min: 0, default: 0.1, description: 'the largest drop below the straight line between two ingredients the check allows (0.1: 10 points)' },
  recomputeBn: { kind: 'int', min: 1, arg: 'N', description: "recompute the soup's BatchNorm statistics on N training images (default: interpolated)" },
  bnData: { kind: 'choice', choices: ['clean', 'clean+adversarial'], default: 'clean', description: 'the images of --recompute-bn' },
} as const satisfies Options;

const CURVE = {
  points: { kind: 'int', min: 3, default: 11, description: 'points on the curve (11: t = 0, 0.1, ..., 1)' },
} as const satisfies Options;

const GRID = {
  step: { kind: 'number', above: 0, max: 1, description: 'grid step, dividing 1 (default 0.05 for two ingredients, 0.1 on the simplex of three or more)' },
} as const satisfies Options;

const LEARNED = {
  granularity: { kind: 'choice', choices: ['model', 'layer'], default: 'model', description: 'one mixture for the whole model, or one per layer' },
  param: { kind: 'choice', choices: ['softmax', 'affine'], default: 'softmax', description: 'coefficients: softmax of logits (convex), or raw affine (sum to 1, may extrapolate)' },
  temperature: { kind: 'number', above: 0, default: 1, description: "softmax temperature (below 1 lets a row reach an ingredient)" },
  loss: { kind: 'choice', choices: ['mix', 'trades'], default: 'mix', description: 'mix: lambda CE(clean) + (1 - lambda) CE(PGD); trades: CE(clean) + beta KL' },
  lambda: { kind: 'number', min: 0, max: 1, default: 0.5, description: 'weight of the clean term of the mix loss' },
  beta: { kind: 'number', min: 0, default: 6, description: 'TRADES weight of the KL term' },
  steps: { kind: 'int', min: 0, default: 100, description: 'Adam steps on the coefficients' },
  lr: { kind: 'number', above: 0, default: 0.05, description: "Adam's learning rate" },
  trainBatch: { kind: 'int', min: 1, default: 128, description: 'training images per step' },
  evalEvery: { kind: 'int', min: 1, default: 25, description: 'held-out evaluation every N steps (and at step 0 and the end); the best is kept' },
  attackSteps: { kind: 'int', min: 1, default: 10, description: 'steps of the training PGD against the current soup (and of --bn-data clean+adversarial)' },
  alpha: { kind: 'number', above: 0, description: 'training PGD step (default eps / 4)' },
} as const satisfies Options;

const usage = (m: string, extra: string) => `robustgpu soup ${m} INGREDIENT.safetensors ${m === 'curve' ? 'INGREDIENT.safetensors' : 'INGREDIENT.safetensors...'} ${extra}[--held-out N] [--test-n N] [--out DIR]`;

export const SOUP_SCHEMAS = {
  curve: defineSchema({
    name: 'soup curve', positionals: 'INGREDIENT...', options: { ...COMMON, ...CURVE },
    summary: 'The interpolation curve of two checkpoints, (1 - t) A + t B: clean and PGD accuracy on the held-out split, and the barrier of the connectivity check.',
    usage: usage('curve', '[--points 11] '), examples: ['robustgpu soup curve runs/a/checkpoints/best.safetensors runs/b/checkpoints/best.safetensors --held-out 500'],
  }),
  uniform: defineSchema({
    name: 'soup uniform', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP },
    summary: "The uniform soup: every tensor the mean of the ingredients'.",
    usage: usage('uniform', ''), examples: ['robustgpu soup uniform runs/ft-*/checkpoints/best.safetensors --out runs/soup-uniform'],
  }),
  greedy: defineSchema({
    name: 'soup greedy', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP },
    summary: 'The greedy soup: ingredients best first by the held-out criterion, each kept in a uniform average only if the held-out score rises.',
    usage: usage('greedy', '[--criterion robust] '), examples: ['robustgpu soup greedy a.safetensors b.safetensors c.safetensors --clean-weight 0.3'],
  }),
  grid: defineSchema({
    name: 'soup grid', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP, ...GRID },
    summary: 'The grid soup: the interpolation of two ingredients (step 0.05), or the simplex of three or more (step 0.1), best by the held-out criterion.',
    usage: usage('grid', '[--step 0.05] '), examples: ['robustgpu soup grid clean.safetensors robust.safetensors --criterion robust'],
  }),
  learned: defineSchema({
    name: 'soup learned', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP, ...LEARNED },
    summary: 'The adversarial learned soup: only the mixing coefficients train (Adam, PGD against the current soup), selected on the held-out split.',
    usage: usage('learned', '[--granularity layer] [--loss trades] [--steps 100] '),
    examples: ['robustgpu soup learned clean.safetensors robust.safetensors --granularity layer --temperature 0.1 --steps 200', 'robustgpu soup learned a.safetensors b.safetensors --loss trades --beta 6 --recompute-bn 2000'],
  }),
} as const satisfies Record<SoupCommand, unknown>;

export const SOUP_SUMMARIES: Record<SoupCommand, string> = {
  curve: 'the 11-point interpolation curve of two checkpoints (clean and PGD, held-out)',
  uniform: 'the mean of the ingredients',
  greedy: 'ingredients added best first while the held-out score rises',
  grid: 'interpolation (2 ingredients, step 0.05) or simplex grid (3+, step 0.1)',
  learned: 'coefficients trained adversarially (per model or per layer), selected on held-out',
};

const ALL = { ...COMMON, ...SOUP, ...CURVE, ...GRID, ...LEARNED };
/** Any subcommand's values (each schema's options are a subset of these, with the same types). */
export type SoupValues = Values<typeof COMMON> & Partial<Values<typeof ALL>>;
