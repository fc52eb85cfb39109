/**
 * One training run from a TrainConfig, in a run directory: the resolved configuration (config.json, with
 * where each value came from), metrics as JSON lines (metrics.jsonl: a record per logged step, per epoch, and
 * why the run stopped), checkpoints (checkpoints/last, best, epoch-N .safetensors, each written to a temporary
 * file and renamed) holding the model, the optimizer and the RunState, the final evaluation (eval.json).
 * `resume` continues a run from its last checkpoint exactly: the model, optimizer, schedule, data order and
 * every generator come back, so the next step's loss equals the uninterrupted run's.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as o from '../engine/ops/index.js';
import { tensor } from '../engine/create.js';
import { Generator, randn, type GeneratorState } from '../engine/rng.js';
import { keep, scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Device } from '../engine/device.js';
import { libraryVersion } from '../engine/version.js';
import type { Tensor } from '../engine/tensor.js';
import { Adam, AdamW, CosineLR, LossScaler, MultiStepLR, SGD, type LossScalerState, type LRScheduler, type Optimizer, type SchedulerState } from '../engine/optim/index.js';
import { copyInto } from '../engine/inplace.js';
import { buildModel, CIFAR10_MEAN, CIFAR10_STD } from '../nn/models/index.js';
import { Linear } from '../nn/layers/index.js';
import { kaimingUniformDefault } from '../nn/init.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointMeta } from '../nn/checkpoint.js';
import { modelFromCheckpoint, readCheckpointMeta } from '../nn/model_io.js';
import type { Module } from '../nn/module.js';
import { datasetSpec, loadDataset } from './data/datasets.js';
import { firstExamples, splitHeldOut } from './data/splits.js';
import { DataLoader, type LoaderState } from './data/loader.js';
import { resolveExamples, type Subset } from './data/image_set.js';
import { fit, type EpochMetrics, type FitResult, type StepMetrics } from './loop.js';
import { standardObjective } from './objectives/standard.js';
import { pgdAtObjective } from './objectives/pgd_at.js';
import { tradesObjective } from './objectives/trades.js';
import { wTradesObjective } from './objectives/w_trades.js';
import type { Objective } from './objectives/objective.js';
import { smoothingPasses } from './smoothing.js';
import { evaluate, type EvalReport } from './eval.js';
import { resolveOptions, type Source } from './options.js';
import { TRAIN_OPTIONS, type TrainConfig } from './run_config.js';


/** What a checkpoint of a run carries beyond the model and optimizer (CheckpointMeta.run). */
export interface RunState {
  step: number;
  epoch: number;
  loader: LoaderState;
  generators: { model: GeneratorState; attack: GeneratorState; augment: GeneratorState };
  scheduler: SchedulerState | null;
  best: { metric: string; value: number; epoch: number } | null;
  /** The objective's own state (W-TRADES' running Upsilon). */
  objective: Record<string, number>;
  /** The dynamic loss scale of an f16-mixed run (absent: float32). */
  scaler?: LossScalerState | null;
}

export interface TrainResult {
  runDir: string;
  fit: FitResult;
  eval: EvalReport | null;
  /** Held-out metrics per epoch. */
  epochs: EpochMetrics[];
}

export interface TrainOptions {
  device: Device;
  /** Where sources of the values came from, for config.json (the CLI passes its own). */
  sources?: Record<string, Source>;
  /** Continue the run in runDir from checkpoints/last.safetensors. */
  resume?: boolean;
  /** When to stop this time (a resumed run may go further than it was first asked to): epochs, maxSteps, timeLimit. */
  stop?: Partial<Pick<TrainConfig, 'epochs' | 'maxSteps' | 'timeLimit'>>;
  onLog?: (m: StepMetrics) => void;
  onEpoch?: (m: EpochMetrics) => void;
  onStep?: (step: number, epochStep: number, perEpoch: number) => void;
  onEvalProgress?: (row: string, done: number, total: number) => void;
}

/** Validates a (partial) config against TRAIN_OPTIONS, filling in the defaults. */
export function trainConfig(partial: Partial<Record<keyof TrainConfig, unknown>> = {}): { config: TrainConfig; sources: Record<string, Source> } {
  const r = resolveOptions(TRAIN_OPTIONS, { config: partial as Record<string, unknown>, configName: 'train config' });
  return { config: r.values, sources: r.sources };
}

function line(runDir: string, rec: Record<string, unknown>): void {
  appendFileSync(join(runDir, 'metrics.jsonl'), `${JSON.stringify(rec)}\n`);
}

/** Per-stream generators of a seed (distinct Philox keys, so the streams never share numbers). */
function generators(seed: number) {
  return { model: new Generator(seed * 4 + 1), attack: new Generator(seed * 4 + 2), augment: new Generator(seed * 4 + 3) };
}

function objectiveOf(c: TrainConfig): Objective {
  const alpha = c.alpha ?? c.eps / 4;
  const attack = { eps: c.eps, alpha, steps: c.attackSteps, norm: c.norm, bnMode: c.attackBn };
  switch (c.objective) {
    case 'standard': return standardObjective();
    case 'pgd-at': return pgdAtObjective(attack);
    case 'trades': return tradesObjective({ ...attack, beta: c.beta });
    case 'w-trades': return wTradesObjective({
      ...attack, beta: c.beta, variant: c.wVariant, delta: c.wDelta, cap: c.wCap, wWeight: c.wWeight, wLoss: c.wLoss, upsilon: c.wUpsilon, upsilonRate: c.wUpsilonRate,
    });
  }
}

/** The last Linear layer (the classifier head). */
function headOf(model: Module): Linear {
  const lins = model.namedModules().filter(([, m]) => m instanceof Linear);
  if (!lins.length) throw new Error('the model has no Linear layer to treat as its head');
  return lins[lins.length - 1]![1] as Linear;
}

function optimizerOf(c: TrainConfig, model: Module): Optimizer<{ lr: number }> {
  const trainable = c.headOnly ? headOf(model).parameters() : model.parameters();
  if (c.headOnly) model.requiresGrad(false);
  trainable.forEach((p) => { p.requiresGrad = true; });
  const groups = c.noDecayBnBias
    ? [{ params: trainable.filter((p) => p.rank > 1) }, { params: trainable.filter((p) => p.rank <= 1), weightDecay: 0 }].filter((g) => g.params.length)
    : [{ params: trainable }];
  switch (c.optimizer) {
    case 'sgd': return new SGD(groups, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
    case 'adam': return new Adam(groups, { lr: c.lr, weightDecay: c.weightDecay });
    case 'adamw': return new AdamW(groups, { lr: c.lr, weightDecay: c.weightDecay });
  }
}

function schedulerOf(c: TrainConfig, opt: Optimizer<{ lr: number }>, totalSteps: number, perEpoch: number): { scheduler: LRScheduler | null; per: 'step' | 'epoch' } {
  if (c.schedule === 'constant') return { scheduler: null, per: 'epoch' };
  if (c.schedule === 'multistep') {
    const ms = c.milestones.map((m) => Number(m));
    if (ms.some((m) => !Number.isInteger(m) || m < 0)) throw new RangeError(`train: milestones must be epoch numbers (integers >= 0), got ${c.milestones.join(',')}`);
    return { scheduler: new MultiStepLR(opt, { milestones: ms }), per: 'epoch' };
  }
  const warmup = c.warmupEpochs * perEpoch;
  return { scheduler: new CosineLR(opt, { tMax: Math.max(1, totalSteps - warmup), warmup }), per: 'step' };
}

/** Images and labels of a subset as one tensor pair (evaluation sets: up to ~10k images). */
function tensorsOf(s: Subset, device: Device): { x: Tensor; y: Tensor } {
  const { set, indices } = resolveExamples(s);
  const px = set.shape[0] * set.shape[1] * set.shape[2];
  const xs = new Float32Array(indices.length * px);
  const ys = new Int32Array(indices.length);
  indices.forEach((j, i) => { xs.set(set.images.subarray(j * px, (j + 1) * px), i * px); ys[i] = set.labels[j]!; });
  return { x: keep(tensor(xs, [indices.length, ...set.shape], { device })), y: keep(tensor(ys, [indices.length], { device })) };
}

/** Weight jitter for fine-tuning: w += N(0, (jitter * rms(w))^2) on every weight (not biases, not BN). */
function jitterWeights(model: Module, jitter: number, g: Generator): void {
  noGrad(() => {
    for (const [, p] of model.namedParameters()) {
      if (p.rank <= 1) continue;
      const next = scope(() => {
        const rms = o.sqrt(o.mean(o.square(p)));
        return o.add(p, o.mul(randn(p.shape, { device: p.device, generator: g }), o.mul(rms, jitter)));
      });
      copyInto(p, next);
      next.dispose();
    }
  });
}

function reinitialiseHead(model: Module, g: Generator): void {
  const head = headOf(model);
  noGrad(() => {
    for (const [name, p] of head.namedParameters()) {
      const fresh = name === 'weight' ? kaimingUniformDefault([...p.shape], { device: p.device, generator: g }) : o.zerosLike(p);
      copyInto(p, fresh);
      fresh.dispose();
    }
  });
}

function checkpointPath(runDir: string, name: string): string {
  return join(runDir, 'checkpoints', `${name}.safetensors`);
}

/**
 * With `init`, the model is the checkpoint's: its architecture and activation replace model and activation
 * where those were left at their defaults (source 'init'), and a value given otherwise (flag or config file)
 * that differs is refused, naming both. Without `init`, or for a checkpoint that does not say, unchanged.
 */
export function withInitModel(config: TrainConfig, sources: Record<string, Source> = {}): { config: TrainConfig; sources: Record<string, Source> } {
  if (!config.init) return { config, sources };
  const meta = readCheckpointMeta(config.init);
  const out = { ...config };
  const src = { ...sources };
  const fromCkpt: [keyof TrainConfig & ('model' | 'activation'), unknown][] = [['model', meta.architecture], ['activation', meta.activation]];
  for (const [key, value] of fromCkpt) {
    if (typeof value !== 'string' || value === config[key]) continue;
    if (src[key] !== undefined && src[key] !== 'default' && src[key] !== 'init') {
      throw new RangeError(`train: ${key} '${config[key]}' (${src[key]}) conflicts with --init ${config.init}, whose ${key === 'model' ? 'architecture' : key} is '${value}'`);
    }
    out[key] = value;
    src[key] = 'init';
  }
  return { config: out, sources: src };
}

/** Trains per `config` in `runDir` (created; config.json, metrics.jsonl, checkpoints/, eval.json). */
export async function train(config: TrainConfig, runDir: string, opts: TrainOptions): Promise<TrainResult> {
  const device = opts.device;
  const init = opts.resume ? { config, sources: opts.sources } : withInitModel(config, opts.sources);
  const c: TrainConfig = { ...init.config, ...Object.fromEntries(Object.entries(opts.stop ?? {}).filter(([, v]) => v !== undefined)) };
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  const last = checkpointPath(runDir, 'last');
  if (opts.resume && !existsSync(last)) throw new Error(`resume: ${runDir} has no checkpoints/last.safetensors to resume from`);
  if (!opts.resume && existsSync(join(runDir, 'metrics.jsonl'))) throw new Error(`train: ${runDir} already holds a run (metrics.jsonl); resume it (--resume) or choose another directory`);
  if (c.norm === 'linf' && c.eps > 1) throw new RangeError(`train: an L-inf eps above 1 is larger than the whole [0, 1] pixel range, got ${c.eps} (pixel units, not /255?)`);

  // Data: train minus a stratified held-out part, the test split.
  const spec = datasetSpec(c.dataset);
  const trainSet = loadDataset(c.dataset, 'train', { dir: c.data, limit: c.trainLimit });
  const { train: trainPart, heldOut } = splitHeldOut(trainSet, { heldOut: c.heldOut, seed: c.seed });
  const gens = generators(c.seed);
  const colour = spec.shape[0] === 3 && spec.shape[1] === 32;
  const augment = c.augment === 'crop-flip' || (c.augment === 'auto' && colour);
  const loaderOptions = { batchSize: c.batch, seed: c.seed, device, augment: augment ? { padding: 4, flip: true, generator: gens.augment } : undefined };

  // Model: fresh, or from --init (fine-tuning), then the run's own changes.
  const meta: CheckpointMeta = {
    architecture: c.model, activation: c.activation, numClasses: spec.classes, inChannels: spec.shape[0],
    normalize: colour ? { mean: CIFAR10_MEAN, std: CIFAR10_STD } : null, dataset: c.dataset,
  };
  let model: Module;
  if (c.init) {
    const made = modelFromCheckpoint(c.init, { model: { device, generator: gens.model } });
    model = made.model;
    Object.assign(meta, { architecture: made.spec.architecture, activation: made.spec.activation, normalize: made.spec.normalize ?? null, init: c.init });
  } else {
    model = buildModel(c.model, { activation: c.activation, numClasses: spec.classes, normalize: meta.normalize, device, generator: gens.model, ...(spec.shape[0] !== 1 || c.model === 'smallcnn' ? { inChannels: spec.shape[0] } : {}) });
  }
  const heldX = heldOut.indices.length ? tensorsOf(firstExamples(heldOut, Math.min(c.evalN, heldOut.indices.length)), device) : null;
  let loader: DataLoader | null = null;
  let optimizer: Optimizer<{ lr: number }> | null = null;
  let scaler: LossScaler | null = null;
  try {
    if (!opts.resume && c.init && c.reinitHead) reinitialiseHead(model, gens.model);
    if (!opts.resume && c.init && c.jitter > 0) jitterWeights(model, c.jitter, gens.model);
    optimizer = optimizerOf(c, model);
    const probe = new DataLoader(trainPart, loaderOptions);
    const perEpoch = probe.batchesPerEpoch;
    probe.dispose();
    // The schedule spans the epochs: maxSteps and the time limit only cut a run short (and --resume continues it).
    const totalSteps = c.epochs * perEpoch;
    const { scheduler, per } = schedulerOf(c, optimizer, totalSteps, perEpoch);
    const objective = objectiveOf(c);

    scaler = c.precision === 'f16-mixed' ? new LossScaler(model.device, { initScale: c.lossScale }) : null;
    let state: RunState | null = null;
    if (opts.resume) {
      const m = loadCheckpoint(last, model, { optimizer, strictBuffers: false });
      state = m.run as RunState | undefined ?? null;
      if (!state) throw new Error(`resume: ${last} holds no run state (it was not written by a training run)`);
      gens.model.setState(state.generators.model);
      gens.attack.setState(state.generators.attack);
      gens.augment.setState(state.generators.augment);
      if (scheduler && state.scheduler) scheduler.loadStateDict(state.scheduler);
      objective.loadState?.(state.objective ?? {});
      if (scaler && state.scaler) scaler.loadState(state.scaler);
      loader = DataLoader.fromState(trainPart, { ...loaderOptions, seed: undefined }, state.loader);
    } else {
      loader = new DataLoader(trainPart, loaderOptions);
      writeFileSync(join(runDir, 'config.json'), `${JSON.stringify({ command: 'train', version: libraryVersion(), started: new Date().toISOString(), resolved: c, sources: init.sources ?? {} }, null, 2)}\n`);
    }
    let best = state?.best ?? null;
    const selectMetric = c.select === 'last' ? null : c.select;
    const runState = async (): Promise<RunState> => ({
      step: fitState.step, epoch: fitState.epoch, loader: loader!.state(),
      generators: { model: gens.model.getState(), attack: gens.attack.getState(), augment: gens.augment.getState() },
      scheduler: scheduler?.stateDict() ?? null, best, objective: (await objective.state?.()) ?? {},
      scaler: scaler ? await scaler.state() : null,
    });
    const save = async (name: string) => saveCheckpoint(checkpointPath(runDir, name), model, { optimizer: optimizer!, meta: { ...meta, config: c, run: await runState() } });
    const fitState = { step: state?.step ?? 0, epoch: state?.epoch ?? 0 };

    const result = await fit({
      model, objective, optimizer, scheduler: scheduler ?? undefined, schedulePer: per, loader, generator: gens.attack,
      epochs: c.epochs, maxSteps: c.maxSteps, timeLimitSeconds: c.timeLimit, logEvery: c.logEvery, clipNorm: c.clipNorm, onNonFinite: c.onNonFinite,
      precision: c.precision, lossScaler: scaler ?? undefined,
      startStep: fitState.step, startEpoch: fitState.epoch, passes: smoothingPasses(model, c.smoothBackward),
      callbacks: {
        onStep: (s, e, n) => { fitState.step = s; opts.onStep?.(s, e, n); },
        onLog: (m) => {
          line(runDir, { type: 'step', epoch: m.epoch, step: m.step, loss: m.loss, trainAccuracy: m.trainAccuracy, lr: m.lr, imagesPerSec: m.imagesPerSec, skipped: m.health.skipped });
          opts.onLog?.(m);
        },
        onEpochEnd: async (m) => {
          fitState.epoch = m.epoch + 1;
          let ev: Record<string, number> | undefined;
          if (heldX) {
            const rep = await evaluate(model, heldX.x, heldX.y, { norm: c.norm, eps: c.eps, attacks: c.objective === 'standard' && c.eps === 0 ? ['clean'] : ['clean', 'pgd'], pgdSteps: c.evalPgdSteps, checks: false, seed: c.seed, batchSize: Math.max(c.batch, 250) });
            ev = { clean: rep.rows[0]!.accuracy, ...(rep.rows[1] ? { robust: rep.rows[1].accuracy } : {}) };
          }
          const rec = { ...m, eval: ev };
          line(runDir, { type: 'epoch', ...rec });
          if (selectMetric && ev && ev[selectMetric] !== undefined && (!best || ev[selectMetric]! > best.value)) {
            best = { metric: selectMetric, value: ev[selectMetric]!, epoch: m.epoch };
            await save('best');
          }
          if (c.snapshotEvery && (m.epoch + 1) % c.snapshotEvery === 0) await save(`epoch-${m.epoch + 1}`);
          await save('last');
          opts.onEpoch?.(rec);
          return ev;
        },
      },
    });
    fitState.step = result.step;
    fitState.epoch = result.epoch;
    line(runDir, { type: 'stop', reason: result.reason, step: result.step, epoch: result.epoch, ...(result.message ? { message: result.message } : {}) });
    if (result.reason === 'non-finite') return { runDir, fit: result, eval: null, epochs: result.epochs };
    // A run cut short mid-epoch saves where it is, so that --resume continues it.
    if (result.reason === 'max-steps' || result.reason === 'time-limit') await save('last');
    let report: EvalReport | null = null;
    if (c.finalEval.length) {
      const testSet = loadDataset(c.dataset, 'test', { dir: c.data });
      const test = tensorsOf(firstExamples(testSet, Math.min(c.finalN ?? testSet.n, testSet.n)), device);
      try {
        report = await evaluate(model, test.x, test.y, {
          norm: c.norm, eps: c.eps, attacks: c.finalEval as EvalReport['rows'][number]['attack'][] as never, pgdSteps: c.finalPgdSteps, seed: c.seed, onProgress: opts.onEvalProgress,
        });
        // W-TRADES is judged on distributional robustness (METHODS §5): its table has those rows, on fewer images
        // (greedy-W bisects every image's radius), which each row's settings state.
        if (c.objective === 'w-trades' && c.finalWN > 0 && !c.finalEval.includes('distributional')) {
          const n = Math.min(c.finalWN, test.y.shape[0]!);
          const sub = tensorsOf(firstExamples(testSet, n), device);
          try {
            const w = await evaluate(model, sub.x, sub.y, { norm: c.norm, eps: c.eps, attacks: ['distributional'], deltas: [c.eps / 2, c.eps], checks: false, seed: c.seed, onProgress: opts.onEvalProgress });
            report.rows.push(...w.rows.map((r) => ({ ...r, settings: { ...r.settings, images: n } })));
            report.warnings.push(...w.warnings);
          } finally {
            sub.x.dispose();
            sub.y.dispose();
          }
        }
      } finally {
        test.x.dispose();
        test.y.dispose();
      }
      writeFileSync(join(runDir, 'eval.json'), `${JSON.stringify({ ...report, rows: report.rows.map((r) => ({ ...r, correct: Array.from(r.correct).join('') })) }, null, 2)}\n`);
    }
    return { runDir, fit: result, eval: report, epochs: result.epochs };
  } finally {
    loader?.dispose();
    optimizer?.dispose();
    scaler?.dispose();
    heldX?.x.dispose();
    heldX?.y.dispose();
    model.dispose();
  }
}

/** A run directory's resolved configuration (config.json), for --resume. */
export function readRunConfig(runDir: string): { config: TrainConfig; sources: Record<string, Source> } {
  const path = join(runDir, 'config.json');
  let raw: { resolved?: Record<string, unknown>; sources?: Record<string, Source> };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as typeof raw;
  } catch (e) {
    throw new Error(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found: not a run directory' : (e as Error).message}`);
  }
  const r = resolveOptions(TRAIN_OPTIONS, { config: raw.resolved ?? {}, configName: path });
  return { config: r.values, sources: raw.sources ?? r.sources };
}
