/**
 * A whole soup run, as `robustgpu soup` does it (the command only parses and prints): load the ingredients,
 * split the training set, check linear connectivity on the held-out part, run one method there, optionally
 * recompute the BatchNorm statistics, evaluate every ingredient and the soup on the test split with the
 * final attacks (training/eval.ts), and write soup.safetensors, soup.json, plane.svg and report.html.
 *
 * The held-out split is the first ingredient's training run's when its checkpoint records one (the same
 * data set, held-out size, training-set limit and seed as `robustgpu train` used), so that no image a
 * choice is made on was trained on; `heldOut` then takes the first N images of that split.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tensor } from '../../engine/create.js';
import type { Tensor } from '../../engine/tensor.js';
import { readCheckpointMeta } from '../../nn/model_io.js';
import type { Module } from '../../nn/module.js';
import type { Norm } from '../attacks/threat.js';
import type { AttackConfig } from '../attacks/pgd.js';
import { loadDataset } from '../data/datasets.js';
import { firstExamples, splitHeldOut } from '../data/splits.js';
import type { Subset } from '../data/image_set.js';
import { evaluate, type EvalAttack } from '../eval.js';
import { soupModel } from './assemble.js';
import { recomputeResultBn } from './bn.js';
import { checkConnectivity, type ConnectivityReport } from './connectivity.js';
import { DEFAULT_CRITERION, uniformSoup } from './fixed.js';
import { greedySoup } from './greedy.js';
import { gridSoup, simplexPoints } from './grid.js';
import { loadIngredients, SoupError, type Ingredients } from './ingredients.js';
import { learnedSoup, type LearnedSoupOptions } from './learned.js';
import { checkCriterion, type SoupCriterion, type SoupEvaluation, type SoupMetrics } from './metric.js';
import { describeBn, disposeResult, saveSoup, type BnStatistics, type SoupResult } from './result.js';
import { writeSoupReport } from './report.js';

export const SOUP_COMMANDS = ['curve', 'uniform', 'greedy', 'grid', 'learned'] as const;
export type SoupCommand = (typeof SOUP_COMMANDS)[number];

/** The learned soup's own settings (the splits, criterion and seed come from the run). */
export type RunLearnedOptions = Omit<LearnedSoupOptions, 'train' | 'heldOut' | 'criterion' | 'seed' | 'attack' | 'onStep'> & { attack?: Omit<AttackConfig, 'generator'> };

export interface RunSoupOptions {
  /** Where soup.safetensors, soup.json, plane.svg and report.html go (created). */
  outDir: string;
  /** Default: the first ingredient's metadata says, else fashion-mnist. */
  dataset?: string;
  data?: string;
  /** Held-out images every choice is made on (default: the training run's held-out size, else 1000). */
  heldOut?: number;
  eps?: number;
  norm?: Norm;
  /** PGD steps of the held-out evaluations (default 10). */
  pgdSteps?: number;
  /** Test images of the final table (default 1000; 0: none). */
  testN?: number;
  finalAttacks?: readonly EvalAttack[];
  /** PGD steps of the final evaluation (default 20). */
  finalPgdSteps?: number;
  batchSize?: number;
  criterion?: SoupCriterion;
  /** Grid step (default: 0.05 for K = 2, 0.1 on the simplex). */
  step?: number;
  /** Points of the connectivity curves (default 11). */
  points?: number;
  maxBarrier?: number;
  /** Soup ingredients that fail the connectivity check anyway. */
  force?: boolean;
  learned?: RunLearnedOptions;
  recomputeBn?: { images: number; data?: 'clean' | 'clean+adversarial' };
  /** Attack starts, batch order, BN images (and the split, when no training run is recorded); default 0. */
  seed?: number;
  /** Progress of a phase: 'connectivity', the method's name, 'bn', or 'test: LABEL ATTACK'. */
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** One row of the final evaluation on the test split. */
export interface FinalRow { attack: string; accuracy: number; seconds: number }

export interface SoupRunEntry {
  label: string;
  /** Clean and PGD on the held-out split. */
  heldOut: SoupMetrics;
  /** The final attacks on the test split ([] when testN is 0). */
  test: FinalRow[];
}

export interface SoupRunSoup extends SoupRunEntry {
  method: Exclude<SoupCommand, 'curve'>;
  coefficients: SoupResult['coefficients'];
  layers?: string[];
  criterion: SoupCriterion;
  bn: BnStatistics;
  bnText: string;
  /** Held-out metrics with the interpolated BN statistics, when they were recomputed. */
  heldOutInterpolatedBn?: SoupMetrics;
  /** The method's wall time, BN recompute included. */
  wallMs: number;
  /** What the method adds (greedy's steps, grid's points, the learned soup's history, ...). */
  details: Record<string, unknown>;
}

export interface SoupRun {
  method: SoupCommand;
  dataset: string;
  ingredients: SoupRunEntry[];
  soup: SoupRunSoup | null;
  /** The connectivity check (for `curve`, the curve itself: never refused). */
  connectivity: ConnectivityReport;
  split: { heldOut: number; splitSize: number; splitSeed: number; train: number; fromTrainingRun: boolean };
  heldOutAttack: { norm: Norm; eps: number; steps: number };
  test: { n: number; attacks: EvalAttack[]; pgdSteps: number };
  /** Final evaluation wall time, all rows. */
  testMs: number;
  wallMs: number;
  warnings: string[];
  files: { checkpoint?: string; json: string; svg: string; html: string };
}

const checkInt = (what: string, v: number, min: number) => {
  if (!Number.isInteger(v) || v < min) throw new SoupError(`runSoup: ${what} must be an integer >= ${min}, got ${v}`);
  return v;
};

/** How many ingredients a method needs, as an error message, or null. */
export function ingredientCountProblem(method: SoupCommand, count: number): string | null {
  if (method === 'curve' && count !== 2) return `curve: expected two ingredient checkpoints, got ${count}`;
  if (count < 2) return `${method}: expected two or more ingredient checkpoints, got ${count}`;
  return null;
}

/** The training run a checkpoint records (robustgpu train puts its resolved configuration in the metadata). */
function trainingRun(path: string): { dataset?: string; heldOut?: number; seed?: number; trainLimit?: number } {
  const c = readCheckpointMeta(path).config;
  if (!c || typeof c !== 'object') return {};
  const num = (k: string) => (typeof c[k] === 'number' ? (c[k] as number) : undefined);
  return { dataset: typeof c.dataset === 'string' ? c.dataset : undefined, heldOut: num('heldOut'), seed: num('seed'), trainLimit: num('trainLimit') };
}

/** Evaluations (of the held-out split) a method makes, for its progress bar; null where it counts steps instead. */
function evaluationsOf(method: SoupCommand, K: number, step: number | undefined): number | null {
  switch (method) {
    case 'uniform': return 1;
    case 'greedy': return 2 * K - 1;
    case 'grid': return K === 2 ? Math.round(1 / (step ?? 0.05)) + 1 : simplexPoints(K, step ?? 0.1).length;
    default: return null;
  }
}

async function finalRows(model: Module, x: Tensor | null, y: Tensor | null, label: string, o: { attacks: EvalAttack[]; norm: Norm; eps: number; pgdSteps: number; batchSize: number; seed: number; onProgress?: RunSoupOptions['onProgress'] }): Promise<FinalRow[]> {
  if (!x || !y) return [];
  const rep = await evaluate(model, x, y, {
    norm: o.norm, eps: o.eps, attacks: o.attacks, pgdSteps: o.pgdSteps, batchSize: o.batchSize, seed: o.seed, checks: false,
    onProgress: (row, done, total) => o.onProgress?.(`test: ${label} ${row}`, done, total),
  });
  return rep.rows.map((r) => ({ attack: r.attack, accuracy: r.accuracy, seconds: r.seconds }));
}

export async function runSoup(method: SoupCommand, paths: readonly string[], opts: RunSoupOptions): Promise<SoupRun> {
  const t0 = performance.now();
  if (!SOUP_COMMANDS.includes(method)) throw new SoupError(`runSoup: method must be one of ${SOUP_COMMANDS.join(', ')}, got ${JSON.stringify(method)}`);
  const count = ingredientCountProblem(method, paths.length);
  if (count) throw new SoupError(count);
  const seed = checkInt('seed', opts.seed ?? 0, 0);
  const testN = checkInt('testN', opts.testN ?? 1000, 0);
  const batchSize = checkInt('batchSize', opts.batchSize ?? 250, 1);
  const pgdSteps = checkInt('pgdSteps', opts.pgdSteps ?? 10, 1);
  const finalPgdSteps = checkInt('finalPgdSteps', opts.finalPgdSteps ?? 20, 1);
  const eps = opts.eps ?? 0.1;
  const norm = opts.norm ?? 'linf';
  if (!(eps > 0)) throw new SoupError(`runSoup: eps must be a number > 0, got ${eps}`);
  const criterion = checkCriterion('runSoup', opts.criterion ?? DEFAULT_CRITERION);
  const attacks = [...(opts.finalAttacks ?? ['clean', 'pgd'])];
  const warnings: string[] = [];

  // Data: the training run's split where the first checkpoint records one.
  const meta0 = readCheckpointMeta(paths[0]!);
  const dataset = opts.dataset ?? (typeof meta0.dataset === 'string' ? meta0.dataset : 'fashion-mnist');
  const tr = trainingRun(paths[0]!);
  const fromRun = tr.dataset === dataset && tr.heldOut !== undefined && tr.heldOut > 0;
  const heldN = checkInt('heldOut', opts.heldOut ?? (fromRun ? tr.heldOut! : 1000), 1);
  const splitSize = fromRun ? Math.max(tr.heldOut!, heldN) : heldN;
  const splitSeed = fromRun ? tr.seed ?? 0 : seed;
  if (fromRun && heldN > tr.heldOut!) warnings.push(`the held-out split has ${heldN} images but the first ingredient's training run held out only ${tr.heldOut}: the rest were in its training split`);
  const trainSet = loadDataset(dataset, 'train', { dir: opts.data, limit: fromRun ? tr.trainLimit : undefined });
  const parts = splitHeldOut(trainSet, { heldOut: splitSize, seed: splitSeed });
  const heldOut: Subset = firstExamples(parts.heldOut, heldN, 'runSoup: heldOut');
  // The test split is checked before any work, so that a too-large testN does not cost the method's run.
  const test = testN > 0 ? loadDataset(dataset, 'test', { dir: opts.data }) : null;
  if (test && testN > test.n) throw new SoupError(`runSoup: testN ${testN} asks for more images than the ${dataset} test split has (${test.n})`);

  const ing: Ingredients = loadIngredients(paths);
  let result: SoupResult | null = null;
  let x: Tensor | null = null;
  let y: Tensor | null = null;
  try {
    let phase = 'connectivity';
    let done = 0;
    let total = 0;
    const ev: SoupEvaluation = {
      examples: heldOut, attack: { eps, steps: pgdSteps, norm }, batchSize, seed,
      onEvaluated: () => { if (total) opts.onProgress?.(phase, ++done, total); },
    };
    const points = opts.points ?? 11;
    const begin = (name: string, n: number | null) => { phase = name; done = 0; total = n ?? 0; };

    // The curves' ends are cached: K ingredients, and the interior points of K - 1 curves.
    begin('connectivity', (ing.K - 1) * (points - 2) + ing.K);
    const connectivity = await checkConnectivity(ing, ev, { points, maxBarrier: opts.maxBarrier, force: method === 'curve' || opts.force });
    if (connectivity.forced && method !== 'curve') warnings.push('the ingredients failed the connectivity check; souped anyway (--force)');
    const own = (k: number) => (k === 0 ? connectivity.curves[0]!.points[0]! : connectivity.curves[k - 1]!.points.at(-1)!).metrics;

    if (method !== 'curve') {
      begin(method, evaluationsOf(method, ing.K, opts.step));
      if (method === 'uniform') result = await uniformSoup(ing, ev, { criterion });
      else if (method === 'greedy') result = await greedySoup(ing, ev, { criterion });
      else if (method === 'grid') result = await gridSoup(ing, ev, { criterion, step: opts.step });
      else {
        const l = opts.learned ?? {};
        result = await learnedSoup(ing, {
          ...l, train: parts.train, heldOut: ev, criterion, seed,
          attack: l.attack ?? { eps, alpha: eps / 4, steps: 10, norm },
          onStep: (s, n) => opts.onProgress?.('learned', s, n),
        });
      }
      if (opts.recomputeBn) {
        begin('bn', 1);
        const bnOpts = { examples: parts.train, images: opts.recomputeBn.images, data: opts.recomputeBn.data, attack: opts.learned?.attack ?? { eps, alpha: eps / 4, steps: 10, norm }, seed };
        result = await recomputeResultBn(ing, result, bnOpts, ev);
        if (result.bn.kind === 'none') warnings.push('the ingredients have no BatchNorm layers: there were no statistics to recompute');
      }
    }

    // Final evaluation on the test split: after every choice is made.
    const tt = performance.now();
    if (test) {
      const px = test.shape[0] * test.shape[1] * test.shape[2];
      x = tensor(test.images.subarray(0, testN * px), [testN, ...test.shape], { device: ing.template.device });
      y = tensor(test.labels.subarray(0, testN), [testN], { device: ing.template.device });
    }
    const fo = { attacks, norm, eps, pgdSteps: finalPgdSteps, batchSize, seed, onProgress: opts.onProgress };
    const ingredients: SoupRunEntry[] = [];
    for (const [k, m] of ing.models.entries()) ingredients.push({ label: ing.labels[k]!, heldOut: own(k), test: await finalRows(m, x, y, ing.labels[k]!, fo) });
    let soup: SoupRunSoup | null = null;
    if (result) {
      const { method: m, coefficients, layers, criterion: crit, heldOut: h, wallMs, bn, state: _state, test: _test, ...details } = result as SoupResult & Record<string, unknown>;
      soup = {
        label: `${m} soup`, method: m as SoupRunSoup['method'], coefficients, ...(layers ? { layers } : {}), criterion: crit, heldOut: h, bn, bnText: describeBn(bn), wallMs,
        details, test: await finalRows(soupModel(ing, result.state), x, y, `${m} soup`, fo),
      };
      if ('heldOutInterpolatedBn' in details) { soup.heldOutInterpolatedBn = details.heldOutInterpolatedBn as SoupMetrics; delete details.heldOutInterpolatedBn; }
    }
    const testMs = performance.now() - tt;

    mkdirSync(opts.outDir, { recursive: true });
    const checkpoint = result ? join(opts.outDir, 'soup.safetensors') : undefined;
    if (result && checkpoint) await saveSoup(checkpoint, ing, result, { dataset, finalEval: Object.fromEntries((soup?.test ?? []).map((r) => [r.attack, r.accuracy])) });
    const run: SoupRun = {
      method, dataset, ingredients, soup, connectivity,
      split: { heldOut: heldN, splitSize, splitSeed, train: parts.train.indices.length, fromTrainingRun: fromRun },
      heldOutAttack: { norm, eps, steps: pgdSteps }, test: { n: testN, attacks, pgdSteps: finalPgdSteps }, testMs,
      wallMs: 0, warnings, files: { ...(checkpoint ? { checkpoint } : {}), json: join(opts.outDir, 'soup.json'), svg: join(opts.outDir, 'plane.svg'), html: join(opts.outDir, 'report.html') },
    };
    run.wallMs = performance.now() - t0;
    await writeSoupReport(run, ing.K === 2 ? connectivity.curves[0]!.points : null);
    return run;
  } finally {
    x?.dispose();
    y?.dispose();
    if (result) disposeResult(result);
    ing.dispose();
  }
}
