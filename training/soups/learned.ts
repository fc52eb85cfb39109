/**
 * The adversarial learned soup (METHODS §7.2-7.3, after Huang 2023 and model-soups' learned soup): the
 * ingredients are frozen, only the mixing coefficients train. Each step assembles theta(alpha) on the GPU
 * (one weighted_sum per tensor), attacks the current soup (PGD on the assembled tensors detached, BN in eval
 * mode), and takes an Adam step on the coefficient logits A from
 *   'mix':    lambda CE(soup(x), y) + (1 - lambda) CE(soup(x_adv), y)       (lambda default 0.5), or
 *   'trades': CE(soup(x), y) + beta KL(soup(x) || soup(x_adv))             (beta default 6),
 * back through the forward, the assembly and the parametrisation:
 *   'softmax': alpha = softmax(A / temperature) per row (convex; a temperature below 1 lets a row reach an
 *              ingredient within a few dozen steps: Adam moves A by about lr per step, alpha's logit gap by
 *              lr / temperature);
 *   'affine':  alpha = A + (1 - sum A) / K per row (sums to 1, may extrapolate beyond the ingredients).
 * Rows: one for the whole model ('model', default) or one per layer ('layer', soupLayers). The loss's
 * forwards run in eval mode too: BN uses the running statistics mixed with the same coefficients, as data
 * without gradient (assembleSoup). A training loss that turns non-finite stops the run at the next
 * evaluation, naming the steps.
 *
 * Selection is on the held-out split only: the soup is scored at step 0 (the initial coefficients) and
 * every `evalEvery` steps, and the best score wins (ties: the earliest). The result keeps that history and
 * the time spent training and evaluating, for comparison with a grid's cost.
 */
import * as o from '../../engine/ops/index.js';
import { tensor } from '../../engine/create.js';
import { Adam } from '../../engine/optim/index.js';
import { Generator } from '../../engine/rng.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { pgdAttack, type AttackConfig } from '../attacks/pgd.js';
import { tradesAttack } from '../attacks/trades.js';
import { tradesLoss } from '../losses.js';
import type { Examples } from '../data/image_set.js';
import { DataLoader } from '../data/loader.js';
import { assembleSoup, disposeSoup, soupLayers, soupModel, soupOf, type CoefficientValues } from './assemble.js';
import { SoupError, type Ingredients } from './ingredients.js';
import { argBest, checkCriterion, evaluateSoup, criterionScore, type SoupCriterion, type SoupEvaluation, type SoupMetrics } from './metric.js';
import { assembledBn, type SoupResult } from './result.js';
import { DEFAULT_CRITERION } from './fixed.js';

export type LearnedParam = 'softmax' | 'affine';
export type LearnedGranularity = 'model' | 'layer';
export type LearnedLoss = { kind: 'mix'; lambda?: number } | { kind: 'trades'; beta?: number };

export interface LearnedSoupOptions {
  /** Where the coefficients train (a training split: never the held-out or test split). */
  train: Examples;
  /** Where the coefficients are selected. */
  heldOut: SoupEvaluation;
  /** The training PGD against the current soup. */
  attack: Omit<AttackConfig, 'generator'>;
  param?: LearnedParam;
  granularity?: LearnedGranularity;
  /** softmax only (default 1). */
  temperature?: number;
  loss?: LearnedLoss;
  /** Optimizer steps (default: `epochs` passes over `train`). */
  steps?: number;
  epochs?: number;
  batchSize?: number;
  /** Adam's learning rate (default 0.05, model-soups' value). */
  lr?: number;
  /** Held-out evaluation every this many steps (default: once per epoch), and always at step 0 and the end. */
  evalEvery?: number;
  criterion?: SoupCriterion;
  /** Initial mixture [K] (every row), positive for softmax, summing to 1 (default uniform). */
  init?: number[];
  /** Batch order and attack starts (default 0). */
  seed?: number;
  /** Called after each optimizer step (before that step's held-out evaluation, if any). */
  onStep?: (step: number, steps: number) => void;
}

export interface LearnedEvaluation {
  step: number;
  metrics: SoupMetrics;
  score: number;
  coefficients: CoefficientValues;
  /** Mean training loss over the steps since the previous evaluation (NaN at step 0). */
  trainLoss: number;
}

export interface LearnedSoupResult extends SoupResult {
  param: LearnedParam;
  granularity: LearnedGranularity;
  loss: Required<LearnedLoss>;
  history: LearnedEvaluation[];
  /** The step whose coefficients were selected. */
  selectedStep: number;
  steps: number;
  /** Wall time in held-out evaluations, and in everything else (coefficient training, setup); wallMs is their sum. */
  trainMs: number;
  evalMs: number;
}

/** alpha from the logits A ([K] or [L, K]), row by row. */
export function mixingWeights(A: Tensor, param: LearnedParam, temperature = 1): Tensor {
  const K = A.shape[A.rank - 1]!;
  const rows = A.rank === 1 ? o.reshape(A, [1, K]) : A;
  const alpha = param === 'softmax'
    ? o.softmax(temperature === 1 ? rows : o.mul(rows, 1 / temperature), 1)
    : o.add(rows, o.mul(o.sub(1, o.sum(rows, 1, true)), 1 / K));
  return A.rank === 1 ? o.reshape(alpha, [K]) : alpha;
}

/** The logits whose mixingWeights are `alpha` (the inverse of the parametrisation). */
export function logitsFor(alpha: readonly number[], param: LearnedParam, temperature = 1): number[] {
  return param === 'softmax' ? alpha.map((a) => temperature * Math.log(a)) : [...alpha];
}

function checkLoss(l: LearnedLoss): Required<LearnedLoss> {
  if (l.kind === 'mix') {
    const lambda = l.lambda ?? 0.5;
    if (!(lambda >= 0 && lambda <= 1)) throw new SoupError(`learnedSoup: loss lambda must be in [0, 1], got ${lambda}`);
    return { kind: 'mix', lambda };
  }
  if (l.kind === 'trades') {
    const beta = l.beta ?? 6;
    if (!(beta >= 0 && Number.isFinite(beta))) throw new SoupError(`learnedSoup: TRADES beta must be a finite number >= 0, got ${beta}`);
    return { kind: 'trades', beta };
  }
  throw new SoupError(`learnedSoup: loss kind must be 'mix' or 'trades', got ${JSON.stringify((l as { kind?: unknown }).kind)}`);
}

function checkPositive(what: string, v: number): number {
  if (!(v > 0 && Number.isFinite(v))) throw new SoupError(`learnedSoup: ${what} must be a finite number > 0, got ${v}`);
  return v;
}

/** The initial logits (checked) as values and shape: `init` in every row. */
function initialLogits(K: number, init: number[] | undefined, param: LearnedParam, temperature: number, rows: number | null): { values: number[]; shape: number[] } {
  const alpha = init ?? new Array<number>(K).fill(1 / K);
  if (alpha.length !== K) throw new SoupError(`learnedSoup: init has ${alpha.length} coefficients for ${K} ingredients`);
  const sum = alpha.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6 || alpha.some((v) => !Number.isFinite(v))) throw new SoupError(`learnedSoup: init must be finite and sum to 1, got [${alpha.join(', ')}]`);
  if (param === 'softmax' && alpha.some((v) => !(v > 0))) throw new SoupError(`learnedSoup: a softmax mixture cannot start at a zero coefficient, got [${alpha.join(', ')}] (use 'affine')`);
  const row = logitsFor(alpha, param, temperature);
  return rows === null ? { values: row, shape: [K] } : { values: Array.from({ length: rows }, () => row).flat(), shape: [rows, K] };
}

export async function learnedSoup(ing: Ingredients, opts: LearnedSoupOptions): Promise<LearnedSoupResult> {
  const t0 = performance.now();
  const param = opts.param ?? 'softmax';
  if (param !== 'softmax' && param !== 'affine') throw new SoupError(`learnedSoup: param must be 'softmax' or 'affine', got ${JSON.stringify(param)}`);
  const granularity = opts.granularity ?? 'model';
  if (granularity !== 'model' && granularity !== 'layer') throw new SoupError(`learnedSoup: granularity must be 'model' or 'layer', got ${JSON.stringify(granularity)}`);
  const temperature = checkPositive('temperature', opts.temperature ?? 1);
  const lr = checkPositive('lr', opts.lr ?? 0.05);
  const loss = checkLoss(opts.loss ?? { kind: 'mix' });
  const criterion = checkCriterion('learnedSoup', opts.criterion ?? DEFAULT_CRITERION);
  const seed = opts.seed ?? 0;
  const layers = soupLayers(ing);
  const init = initialLogits(ing.K, opts.init, param, temperature, granularity === 'layer' ? layers.labels.length : null);

  const device = ing.template.device;
  const loader = new DataLoader(opts.train, { batchSize: opts.batchSize ?? 128, seed, device });
  const steps = opts.steps ?? (opts.epochs ?? 1) * loader.batchesPerEpoch;
  if (!Number.isInteger(steps) || steps < 0) throw new SoupError(`learnedSoup: steps must be an integer >= 0, got ${steps}`);
  const evalEvery = opts.evalEvery ?? loader.batchesPerEpoch;
  if (!Number.isInteger(evalEvery) || evalEvery < 1) throw new SoupError(`learnedSoup: evalEvery must be an integer >= 1, got ${evalEvery}`);

  const A = keep(tensor(init.values, init.shape, { device }));
  A.requiresGrad = true;
  const opt = new Adam([A], { lr });
  const generator = new Generator(seed);
  const history: LearnedEvaluation[] = [];
  let lossSum = keep(o.zeros([], { device }));
  let lossSteps = 0;
  let evalMs = 0;

  const evaluate = async (step: number) => {
    await device.sync();
    const e0 = performance.now();
    const alpha = noGrad(() => scope(() => mixingWeights(A, param, temperature)));
    const values = Array.from(await alpha.read());
    alpha.dispose();
    const coefficients: CoefficientValues = granularity === 'layer' ? layers.labels.map((_, r) => values.slice(r * ing.K, (r + 1) * ing.K)) : values;
    const trainLoss = lossSteps ? (await lossSum.item()) / lossSteps : NaN;
    if (lossSteps && !Number.isFinite(trainLoss)) {
      throw new SoupError(`learnedSoup: the training loss is ${trainLoss} over steps ${step - lossSteps + 1}-${step} (coefficients now ${JSON.stringify(coefficients)}): an ingredient holding NaN or inf poisons every soup that weighs it, and raw-affine coefficients can diverge (lower lr, or use 'softmax')`);
    }
    lossSum.dispose();
    lossSum = keep(o.zeros([], { device }));
    lossSteps = 0;
    const soup = soupOf(ing, coefficients);
    let metrics: SoupMetrics;
    try {
      metrics = await evaluateSoup(soupModel(ing, soup), opts.heldOut);
    } finally {
      disposeSoup(soup);
    }
    history.push({ step, metrics, score: criterionScore(metrics, criterion), coefficients, trainLoss });
    evalMs += performance.now() - e0;
  };

  try {
    await evaluate(0);
    for (let step = 1; step <= steps; step++) {
      const b = loader.next();
      const l = scope(() => {
        const alpha = mixingWeights(A, param, temperature);
        const soup = assembleSoup(ing, alpha, { bufferCoefficients: alpha });
        const target = soupModel(ing, new Map([...soup].map(([k, t]) => [k, t.detach()])));
        const model = soupModel(ing, soup).eval();
        let value: Tensor;
        if (loss.kind === 'mix') {
          const clean = o.crossEntropy(model.forward(b.x), b.y);
          // lambda = 1 is the clean-only loss: no attack to pay for.
          value = loss.lambda === 1 ? clean
            : o.add(o.mul(clean, loss.lambda), o.mul(o.crossEntropy(model.forward(pgdAttack(target, b.x, b.y, { ...opts.attack, generator })), b.y), 1 - loss.lambda));
        } else {
          const xAdv = tradesAttack(target, b.x, { ...opts.attack, generator });
          value = tradesLoss(model, b.x, xAdv, b.y, loss.beta);
        }
        value.backward();
        opt.step();
        opt.zeroGrad();
        return value.detach();
      });
      b.x.dispose();
      b.y.dispose();
      const next = o.add(lossSum, l);
      l.dispose();
      lossSum.dispose();
      lossSum = keep(next);
      lossSteps++;
      opts.onStep?.(step, steps);
      if (step % evalEvery === 0 || step === steps) await evaluate(step);
    }
    const chosen = history[argBest(history.map((h) => h.score))]!;
    const state = soupOf(ing, chosen.coefficients);
    const wallMs = performance.now() - t0;
    return {
      method: 'learned', coefficients: chosen.coefficients, ...(granularity === 'layer' ? { layers: layers.labels } : {}), criterion,
      heldOut: chosen.metrics, wallMs, bn: assembledBn(ing), state,
      param, granularity, loss, history, selectedStep: chosen.step, steps, trainMs: wallMs - evalMs, evalMs,
    };
  } finally {
    lossSum.dispose();
    opt.dispose();
    A.dispose();
    loader.dispose();
  }
}
