/**
 * The options of a soup run, declared once (training/options.ts): those every method shares, those of the
 * methods that make a soup, and each method's own. `robustgpu soup SUBCOMMAND` derives one schema per
 * subcommand from them (cli/soup_options.ts) and a sweep's soup job is checked against them; soupRunOptions
 * turns the values into runSoup's options.
 */
import { join } from 'node:path';
import { DATASETS } from '../data/datasets.js';
import { EVAL_ATTACKS, type EvalAttack } from '../eval.js';
import { OptionError, resolveOptions, type Options, type Values } from '../options.js';
import type { SoupCriterion } from './metric.js';
import type { RunSoupOptions, SoupCommand } from './run.js';

export const SOUP_COMMON_OPTIONS = {
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
} as const satisfies Options;

export const SOUP_MAKING_OPTIONS = {
  criterion: { kind: 'choice', choices: ['clean', 'robust', 'weighted'], default: 'weighted', description: 'what the method maximises on the held-out split (weighted: w clean + (1 - w) PGD)' },
  cleanWeight: { kind: 'number', min: 0, max: 1, arg: 'W', description: 'w of the weighted criterion (default 0.5; implies --criterion weighted)' },
  force: { kind: 'bool', default: false, description: 'soup ingredients that fail the linear connectivity check anyway' },
  maxBarrier: { kind: 'number', min: 0, default: 0.1, description: 'the largest drop below the straight line between two ingredients the check allows (0.1: 10 points)' },
  recomputeBn: { kind: 'int', min: 1, arg: 'N', description: "recompute the soup's BatchNorm statistics on N training images (default: interpolated)" },
  bnData: { kind: 'choice', choices: ['clean', 'clean+adversarial'], default: 'clean', description: 'the images of --recompute-bn' },
} as const satisfies Options;

export const SOUP_CURVE_OPTIONS = {
  points: { kind: 'int', min: 3, default: 11, description: 'points on the curve (11: t = 0, 0.1, ..., 1)' },
} as const satisfies Options;

export const SOUP_GRID_OPTIONS = {
  step: { kind: 'number', above: 0, max: 1, description: 'grid step, dividing 1 (default 0.05 for two ingredients, 0.1 on the simplex of three or more)' },
} as const satisfies Options;

export const SOUP_LEARNED_OPTIONS = {
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


const ALL_SOUP_OPTIONS = { ...SOUP_COMMON_OPTIONS, ...SOUP_MAKING_OPTIONS, ...SOUP_CURVE_OPTIONS, ...SOUP_GRID_OPTIONS, ...SOUP_LEARNED_OPTIONS };
/** Any method's values (each method's options are a subset of these, with the same types). */
export type SoupValues = Values<typeof SOUP_COMMON_OPTIONS> & Partial<Values<typeof ALL_SOUP_OPTIONS>>;

/** The options each method takes. */
export const SOUP_METHOD_OPTIONS = {
  curve: { ...SOUP_COMMON_OPTIONS, ...SOUP_CURVE_OPTIONS },
  uniform: { ...SOUP_COMMON_OPTIONS, ...SOUP_MAKING_OPTIONS },
  greedy: { ...SOUP_COMMON_OPTIONS, ...SOUP_MAKING_OPTIONS },
  grid: { ...SOUP_COMMON_OPTIONS, ...SOUP_MAKING_OPTIONS, ...SOUP_GRID_OPTIONS },
  learned: { ...SOUP_COMMON_OPTIONS, ...SOUP_MAKING_OPTIONS, ...SOUP_LEARNED_OPTIONS },
} as const satisfies Record<SoupCommand, Options>;

/** Validates a method's option values (e.g. a sweep job's), filling in the defaults, into runSoup's options. */
export function soupConfig(method: SoupCommand, values: Record<string, unknown>, what = 'soup config'): RunSoupOptions {
  const r = resolveOptions(SOUP_METHOD_OPTIONS[method], { config: values, configName: what });
  return soupRunOptions(method, r.values as SoupValues, r.sources as Record<string, string>);
}

/** The criterion from --criterion and --clean-weight (a weight implies the weighted sum). */
function criterionOf(v: SoupValues, given: boolean): SoupCriterion {
  if (v.cleanWeight !== undefined && given && v.criterion !== 'weighted') throw new OptionError(`soup: --clean-weight weighs the weighted criterion; it conflicts with --criterion ${v.criterion}`);
  if (v.criterion === 'clean' || v.criterion === 'robust') return v.criterion;
  return { cleanWeight: v.cleanWeight ?? 0.5 };
}

/** runSoup's options from option values (flags or a sweep job's options); conflicting values throw OptionError. */
export function soupRunOptions(method: SoupCommand, v: SoupValues, sources: Record<string, string>): RunSoupOptions {
  if (sources.bnData !== undefined && sources.bnData !== 'default' && v.recomputeBn === undefined) throw new OptionError('soup: --bn-data chooses the images of --recompute-bn N; give --recompute-bn');
  if (v.alpha !== undefined && v.alpha > v.eps) throw new OptionError(`soup: --alpha ${v.alpha} is larger than --eps ${v.eps}`);
  if (v.step !== undefined && Math.abs(Math.round(1 / v.step) * v.step - 1) > 1e-9) throw new OptionError(`soup grid: --step expects a step dividing 1 (0.05, 0.1, 0.25, ...), got ${v.step}`);
  const attack = { eps: v.eps, alpha: v.alpha ?? v.eps / 4, steps: v.attackSteps ?? 10, norm: v.norm };
  return {
    outDir: v.out ?? join('runs', `soup-${method}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`),
    dataset: v.dataset, data: v.data, heldOut: v.heldOut, eps: v.eps, norm: v.norm, pgdSteps: v.pgdSteps, testN: v.testN,
    finalAttacks: v.finalAttacks as EvalAttack[], finalPgdSteps: v.finalPgdSteps, batchSize: v.batch, seed: v.seed,
    criterion: method === 'curve' ? undefined : criterionOf(v, sources.criterion !== undefined && sources.criterion !== 'default'),
    step: v.step, points: v.points, maxBarrier: v.maxBarrier, force: v.force,
    ...(v.recomputeBn !== undefined ? { recomputeBn: { images: v.recomputeBn, data: v.bnData } } : {}),
    ...(method === 'learned' ? {
      learned: {
        granularity: v.granularity, param: v.param, temperature: v.temperature, steps: v.steps, lr: v.lr, batchSize: v.trainBatch, evalEvery: v.evalEvery, attack,
        loss: v.loss === 'trades' ? { kind: 'trades', beta: v.beta } : { kind: 'mix', lambda: v.lambda },
      },
    } : {}),
  };
}

