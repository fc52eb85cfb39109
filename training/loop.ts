/**
 * The training loop (`fit`): it owns the model, optimizer, schedule, data order and generators of a run and
 * steps an Objective over the batches of a DataLoader. A step is recorded without a readback: the loss and
 * accuracy accumulate in GPU tensors, the health check (engine/health.ts) gates the optimizer on the GPU,
 * and everything is read in one readback at the steps that log. Callbacks see the metrics when they are read:
 * progress, JSON lines, evaluation on a held-out split, checkpoints. What a checkpoint saves is the RunState
 * (run_state.ts): resuming from it continues exactly (the next step's loss equals the uninterrupted run's).
 */
import * as o from '../engine/ops/index.js';
import { TrainingHealth, type HealthMode, type HealthReport } from '../engine/health.js';
import { full } from '../engine/create.js';
import { keep, scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import { withPrecision, type Precision } from '../engine/precision.js';
import type { LossScaler } from '../engine/optim/loss_scaler.js';
import type { Tensor } from '../engine/tensor.js';
import type { Generator } from '../engine/rng.js';
import type { Optimizer, LRScheduler } from '../engine/optim/index.js';
import { clipGradNorm, gradNorm } from '../engine/optim/index.js';
import type { Module } from '../nn/module.js';
import type { DataLoader } from './data/loader.js';
import type { Objective, StepContext } from './objectives/objective.js';
import { misclassified } from './attacks/objective.js';

export interface StepMetrics {
  epoch: number;
  /** Steps done so far in the run (the last one logged is step - 1, 0-based). */
  step: number;
  /** Means over the steps since the previous log. */
  loss: number;
  trainAccuracy: number;
  lr: number;
  imagesPerSec: number;
  health: HealthReport;
}

export interface EpochMetrics {
  epoch: number;
  step: number;
  loss: number;
  trainAccuracy: number;
  seconds: number;
  /** What the epoch callback's evaluation returned (held-out clean / robust accuracy), if any. */
  eval?: Record<string, number>;
}

/** Why fit returned. */
export type StopReason = 'done' | 'max-steps' | 'time-limit' | 'non-finite' | 'early-stop';

export interface FitCallbacks {
  onLog?(m: StepMetrics): void | Promise<void>;
  /** After each epoch; returning eval metrics puts them in the epoch record. */
  onEpochEnd?(m: EpochMetrics): Promise<Record<string, number> | void> | Record<string, number> | void;
  /** true stops the run (early stopping). */
  shouldStop?(m: EpochMetrics): boolean;
  /** After every step, cheap (no readback): e.g. a progress bar. */
  onStep?(step: number, epochStep: number, stepsPerEpoch: number): void;
}

export interface FitOptions {
  model: Module;
  objective: Objective;
  optimizer: Optimizer<{ lr: number }>;
  /** Advanced once per epoch (PyTorch's usual) or per step. */
  scheduler?: LRScheduler;
  schedulePer?: 'epoch' | 'step';
  loader: DataLoader;
  /** The attacks' generator. */
  generator: Generator;
  epochs: number;
  /** Stop after this many steps of the run (counted from the start, not the resume). */
  maxSteps?: number;
  /** Stop after this many seconds of this call (a checkpoint can then resume it). */
  timeLimitSeconds?: number;
  /** Read the metrics every this many steps (default 50) and at epoch ends. */
  logEvery?: number;
  /** Clip the global gradient norm (default: no clipping; the norm is computed for the health check anyway). */
  clipNorm?: number;
  /** 'stop' (default): the first non-finite step ends the run with its epoch and step named; 'skip': skip such steps. */
  onNonFinite?: HealthMode;
  /**
   * 'f16-mixed' records each step's forward and backward with f16 operands in matmul and conv2d
   * (engine/precision.ts); default 'float32'. Give a lossScaler with it (dynamic loss scaling on the GPU).
   */
  precision?: Precision;
  lossScaler?: LossScaler;
  /** How the attack and update passes run (SAT's backward-only smoothing: training/smoothing.ts); default as they are. */
  passes?: Pick<StepContext, 'inAttack' | 'inUpdate'>;
  /** Where a resumed run starts (from run_state.ts); default 0, 0. */
  startStep?: number;
  startEpoch?: number;
  callbacks?: FitCallbacks;
}

export interface FitResult {
  reason: StopReason;
  /** Steps done by the run (the resumed part included). */
  step: number;
  /** The epoch in progress or next. */
  epoch: number;
  epochs: EpochMetrics[];
  health: HealthReport;
  message?: string;
}

export class NonFiniteError extends Error {}

function positiveInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new RangeError(`fit: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/** GPU-side sums since the last read: [loss, correct predictions, examples, steps]. */
class Accumulator {
  private sums: Tensor | null = null;
  add(loss: Tensor, logits: Tensor, y: Tensor): void {
    const next = noGrad(() => scope(() => {
      const correct = o.sum(o.sub(1, misclassified(logits, y)));
      const row = o.concat([o.reshape(loss.detach(), [1]), o.reshape(correct, [1]), full([1], y.shape[0]!, { device: y.device }), full([1], 1, { device: y.device })]);
      return this.sums ? o.add(this.sums, row) : row;
    }));
    this.sums?.dispose();
    this.sums = keep(next);
  }
  /** The sums, then resets. */
  take(): Tensor | null {
    const s = this.sums;
    this.sums = null;
    return s;
  }
  dispose(): void { this.sums?.dispose(); }
}

/** Trains until the epochs are done, maxSteps, the time limit, a non-finite step or an early stop. */
export async function fit(f: FitOptions): Promise<FitResult> {
  const epochs = positiveInt('epochs', f.epochs);
  const logEvery = positiveInt('logEvery', f.logEvery ?? 50);
  const maxSteps = f.maxSteps === undefined ? Infinity : positiveInt('maxSteps', f.maxSteps);
  if (f.timeLimitSeconds !== undefined && !(f.timeLimitSeconds > 0)) throw new RangeError(`fit: timeLimitSeconds must be > 0, got ${f.timeLimitSeconds}`);
  if (f.clipNorm !== undefined && !(f.clipNorm > 0)) throw new RangeError(`fit: clipNorm must be > 0, got ${f.clipNorm}`);
  const { model, objective, optimizer, loader } = f;
  const params = model.parameters().filter((p) => p.requiresGrad);
  const device = model.device;
  const health = new TrainingHealth(device, f.onNonFinite ?? 'stop');
  const precision = f.precision ?? 'float32';
  const scaler = f.lossScaler ?? null;
  const perEpoch = loader.batchesPerEpoch;
  const cb = f.callbacks ?? {};
  const passes = f.passes ?? { inAttack: <T>(fn: () => T) => fn(), inUpdate: <T>(fn: () => T) => fn() };
  const t0 = performance.now();
  let step = f.startStep ?? 0;
  let epoch = f.startEpoch ?? 0;
  const records: EpochMetrics[] = [];
  const acc = new Accumulator();
  const epochAcc = new Accumulator();
  let sinceLog = 0;
  let lastLogT = performance.now();
  let lastHealth: HealthReport = { healthy: true, firstBadStep: null, what: [], skipped: 0 };

  /** One readback: the interval's sums, the epoch's sums (at an epoch end) and the health words. */
  const read = async (withEpoch: boolean): Promise<{ interval: number[] | null; epochSums: number[] | null; health: HealthReport }> => {
    const a = acc.take();
    const e = withEpoch ? epochAcc.take() : null;
    const parts = [a, e].filter((t): t is Tensor => t !== null);
    const packed = noGrad(() => scope(() => o.concat([...parts, o.toFloat32(health.state)])));
    const v = Array.from(await packed.read());
    packed.dispose();
    parts.forEach((t) => t.dispose());
    let k = 0;
    const interval = a ? v.slice(k, (k += 4)) : null;
    const epochSums = e ? v.slice(k, (k += 4)) : null;
    return { interval, epochSums, health: TrainingHealth.decode(v.slice(k, k + 4)) };
  };
  const stopFor = (h: HealthReport): FitResult => {
    const bad = h.firstBadStep!;
    const message = `training stopped: step ${bad} (epoch ${Math.floor(bad / perEpoch)}, batch ${bad % perEpoch} of the epoch) was not finite in its ${h.what.join(' and ')}; `
      + 'the weights are those of the step before it; lower the learning rate or check the data';
    return { reason: 'non-finite', step, epoch, epochs: records, health: h, message };
  };

  try {
    while (epoch < epochs) {
      const epochStart = performance.now();
      let epochStep = step - epoch * perEpoch;
      while (epochStep < perEpoch) {
        if (step >= maxSteps) return await finish('max-steps');
        if (f.timeLimitSeconds !== undefined && (performance.now() - t0) / 1000 >= f.timeLimitSeconds) return await finish('time-limit');
        const batch = loader.next();
        try {
          scope(() => {
            const record = () => {
              const r = objective.loss(model, batch, { generator: f.generator, step, epoch, ...passes });
              (scaler ? scaler.scaleLoss(r.loss) : r.loss).backward();
              return r;
            };
            const { loss, logits } = precision === 'float32' ? record() : withPrecision(precision, record, device);
            scaler?.unscale(params);
            const norm = f.clipNorm !== undefined ? clipGradNorm(params, f.clipNorm) : gradNorm(params);
            // an f16 overflow the scaler handles skips the update without counting as a non-finite step
            const judged = scaler?.update(norm);
            const gate = health.check(step, { input: batch.x, loss, gradNorm: judged?.healthNorm ?? norm });
            optimizer.step({ gate: judged ? o.mul(gate, judged.ok) : gate });
            optimizer.zeroGrad();
            acc.add(loss, logits, batch.y);
            epochAcc.add(loss, logits, batch.y);
          });
        } finally {
          batch.x.dispose();
          batch.y.dispose();
        }
        step++;
        epochStep++;
        sinceLog++;
        if (f.scheduler && f.schedulePer === 'step') f.scheduler.step();
        cb.onStep?.(step, epochStep, perEpoch);
        await device.breathe();
        if (sinceLog >= logEvery && epochStep < perEpoch) {
          const r = await read(false);
          lastHealth = r.health;
          if (!r.health.healthy) return stopFor(r.health);
          const now = performance.now();
          await cb.onLog?.(metricsOf(r.interval!, epoch, step, optimizer, (sinceLog * loader.batchSize) / ((now - lastLogT) / 1000), r.health));
          sinceLog = 0;
          lastLogT = now;
        }
      }
      const r = await read(true);
      lastHealth = r.health;
      if (!r.health.healthy) return stopFor(r.health);
      const now = performance.now();
      if (r.interval && sinceLog > 0) await cb.onLog?.(metricsOf(r.interval, epoch, step, optimizer, (sinceLog * loader.batchSize) / ((now - lastLogT) / 1000), r.health));
      sinceLog = 0;
      lastLogT = now;
      const es = r.epochSums!;
      const rec: EpochMetrics = { epoch, step, loss: es[0]! / Math.max(1, es[3]!), trainAccuracy: es[1]! / Math.max(1, es[2]!), seconds: (now - epochStart) / 1000 };
      epoch++;
      if (f.scheduler && f.schedulePer !== 'step') f.scheduler.step();
      const ev = await cb.onEpochEnd?.(rec);
      if (ev) rec.eval = ev;
      records.push(rec);
      if (cb.shouldStop?.(rec)) return await finish('early-stop');
    }
    return await finish('done');
  } finally {
    acc.dispose();
    epochAcc.dispose();
    health.dispose();
  }

  async function finish(reason: StopReason): Promise<FitResult> {
    const r = await read(false);
    if (!r.health.healthy) return stopFor(r.health);
    return { reason, step, epoch, epochs: records, health: r.health ?? lastHealth };
  }
}

function metricsOf(sums: number[], epoch: number, step: number, opt: Optimizer<{ lr: number }>, imagesPerSec: number, health: HealthReport): StepMetrics {
  return { epoch, step, loss: sums[0]! / Math.max(1, sums[3]!), trainAccuracy: sums[1]! / Math.max(1, sums[2]!), lr: opt.paramGroups[0]!.lr, imagesPerSec, health };
}
