/**
 * APGD (Croce & Hein 2020), as fra31/auto-attack's autopgd_base.py runs it (METHODS §1.3), L-inf and L2:
 * start x + eps t/||t||; step size 2 eps per example; the step, then the momentum step
 * x + a (z - x) + (1 - a)(x - x_prev) with a = 1 at the first iteration and 0.75 after, each projected onto
 * the ball ∩ [0, 1]; checkpoints after floor(0.22 N) iterations, the interval shrinking by floor(0.03 N) down
 * to floor(0.06 N); at a checkpoint an example's step is halved and it restarts from its best point if its
 * loss rose in at most 75% of the steps since the last checkpoint, or if its step was not halved at the last
 * checkpoint and its best loss has not improved since. The oscillation count compares the first step of the
 * first interval with 0, as the reference's wrap-around read of its unwritten last row does.
 * Every per-example quantity (step sizes, best points and gradients, the counters) stays on the GPU: the
 * checkpoint schedule is known in advance, so nothing is read back.
 * APGD-T (`apgdTargeted`) runs the targeted DLR loss toward each of the top-`targets` classes of the clean
 * logits in turn (second largest first), as APGDAttack_targeted.
 */
import * as o from '../../engine/ops/index.js';
import { full } from '../../engine/create.js';
import type { Generator } from '../../engine/rng.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import { attackLoss, checkLoss, lossAndGrad, misclassified, type AttackLoss } from './objective.js';
import { WorstCase, type AttackResult } from './result.js';
import { checkThreat, perExample, project, startPoint, type Norm, type ThreatModel } from './threat.js';

export interface ApgdOptions extends ThreatModel {
  /** Iterations (default 100). */
  steps?: number;
  /** Default 1: further runs start afresh; the worst case per example is kept. */
  restarts?: number;
  /** 'ce' (APGD-CE, default), 'dlr' (APGD-DLR), or a targeted loss with `targets`. */
  loss?: AttackLoss;
  targets?: Tensor;
  /** The fraction of increasing steps below which a checkpoint halves the step (default 0.75). */
  rho?: number;
  /** Start here instead of the random start (AutoAttack's x_init); inside the ball and [0, 1]. */
  init?: Tensor;
  /** Called at every checkpoint with the per-example step sizes after it (valid during the call only: clone to keep). */
  onCheckpoint?: (iteration: number, stepSize: Tensor) => void;
  bnMode?: AttackBnMode;
  generator: Generator;
}

/** The checkpoint schedule of an N-iteration run: the iterations (0-based) after which a check happens. */
export function apgdCheckpoints(n: number): { at: number; window: number }[] {
  let k = Math.max(Math.floor(0.22 * n), 1);
  const minK = Math.max(Math.floor(0.06 * n), 1);
  const decr = Math.max(Math.floor(0.03 * n), 1);
  const out: { at: number; window: number }[] = [];
  let counter = 0;
  for (let i = 0; i < n; i++) {
    if (++counter === k) {
      out.push({ at: i, window: k });
      k = Math.max(k - decr, minK);
      counter = 0;
    }
  }
  return out;
}

function positiveInt(what: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${what}: ${name} must be an integer >= 1, got ${String(v)}`);
  return v;
}

interface ApgdSettings extends ThreatModel {
  steps: number; restarts: number; loss: AttackLoss; targets?: Tensor; rho: number; bnMode: AttackBnMode; generator: Generator;
  init?: Tensor; onCheckpoint?: ApgdOptions['onCheckpoint'];
}

function settings(what: string, opts: ApgdOptions): ApgdSettings {
  const t = checkThreat(what, opts);
  const rho = opts.rho ?? 0.75;
  if (!(rho >= 0 && rho <= 1)) throw new RangeError(`${what}: rho must be in [0, 1], got ${rho}`);
  return {
    ...t, steps: positiveInt(what, 'steps', opts.steps ?? 100), restarts: positiveInt(what, 'restarts', opts.restarts ?? 1),
    loss: checkLoss(what, opts.loss ?? 'ce', opts.targets), targets: opts.targets, rho, bnMode: opts.bnMode ?? 'eval', generator: opts.generator,
    init: opts.init, onCheckpoint: opts.onCheckpoint,
  };
}

/** The step then the momentum step, each projected (autopgd_base.py's two-stage update). */
function apgdStep(x0: Tensor, x: Tensor, xPrev: Tensor, grad: Tensor, step: Tensor, a: number, norm: Norm, eps: number): Tensor {
  return noGrad(() => scope(() => {
    const z = norm === 'linf' ? o.pgdLinfStep(x0, x, grad, { eps, alpha: step }) : o.pgdL2Step(x0, x, grad, { eps, alpha: step });
    if (a === 1) return z;
    const mixed = o.add(o.add(x, o.mul(o.sub(z, x), a)), o.mul(o.sub(x, xPrev), 1 - a));
    return project(x0, mixed, norm, eps);
  }));
}

/** One APGD run over the whole batch. */
function apgdRun(model: Module, x0: Tensor, y: Tensor, s: ApgdSettings): AttackResult {
  const lossOf = (logits: Tensor) => attackLoss(s.loss, logits, y, s.targets);
  const n = x0.shape[0]!;
  const dev = x0.device;
  const checks = new Map(apgdCheckpoints(s.steps).map((c) => [c.at, c.window]));
  // Per-example state, all on the GPU; `st` owns what it holds.
  const st = {} as Record<'x' | 'xPrev' | 'grad' | 'xBest' | 'gradBest' | 'lossBest' | 'lastBest' | 'reduced' | 'step' | 'rises' | 'prevLoss', Tensor>;
  const set = (k: keyof typeof st, t: Tensor) => { const old = st[k]; st[k] = keep(t); if (old && old !== t) old.dispose(); };
  let worst: WorstCase | null = null;
  try {
    scope(() => {
      const start = s.init ? project(x0, s.init, s.norm, s.eps) : startPoint(x0, s, 'apgd', s.generator);
      const { loss, logits, grad } = lossAndGrad(model, start, lossOf);
      worst = WorstCase.start(start, loss, misclassified(logits, y));
      set('x', start);
      set('xPrev', start.clone());
      set('grad', grad);
      set('xBest', start.clone());
      set('gradBest', grad.clone());
      set('lossBest', loss);
      set('lastBest', loss.clone());
      set('reduced', full([n], 1, { device: dev }));
      set('step', full([n], 2 * s.eps, { device: dev }));
      set('rises', full([n], 0, { device: dev }));
      set('prevLoss', full([n], 0, { device: dev }));
    });
    for (let i = 0; i < s.steps; i++) {
      scope(() => {
        const next = apgdStep(x0, st.x, st.xPrev, st.grad, st.step, i > 0 ? 0.75 : 1, s.norm, s.eps);
        // The current point becomes the previous one; st.x is replaced below without disposing it.
        st.xPrev.dispose();
        st.xPrev = st.x;
        const { loss, logits, grad } = lossAndGrad(model, next, lossOf);
        worst!.update(next, loss, misclassified(logits, y));
        noGrad(() => {
          set('rises', o.add(st.rises, o.gt(loss, st.prevLoss)));
          set('prevLoss', loss);
          const better = perExample(o.gt(loss, st.lossBest), next);
          set('xBest', o.where(better, next, st.xBest));
          set('gradBest', o.where(better, grad, st.gradBest));
          set('lossBest', o.maximum(loss, st.lossBest));
          const window = checks.get(i);
          if (window === undefined) {
            st.x = keep(next);
            set('grad', grad);
            return;
          }
          const oscillating = o.le(st.rises, window * s.rho);
          const stalled = o.mul(o.sub(1, st.reduced), o.ge(st.lastBest, st.lossBest));
          const halve = o.maximum(oscillating, stalled);
          set('reduced', halve);
          set('lastBest', st.lossBest.clone());
          set('step', o.where(halve, o.mul(st.step, 0.5), st.step));
          const back = perExample(halve, next);
          st.x = keep(o.where(back, st.xBest, next));
          set('grad', o.where(back, st.gradBest, grad));
          set('rises', o.zerosLike(st.rises));
          s.onCheckpoint?.(i, st.step);
        });
      });
    }
    return worst!.result();
  } catch (e) {
    (worst as WorstCase | null)?.dispose();
    throw e;
  } finally {
    for (const t of Object.values(st)) t.dispose();
  }
}

function runRestarts(model: Module, x: Tensor, y: Tensor, s: ApgdSettings): AttackResult {
  const first = apgdRun(model, x, y, s);
  if (s.restarts === 1) return first;
  const worst = WorstCase.start(first.xAdv, first.loss, first.fooled);
  for (const t of [first.xAdv, first.fooled, first.loss]) t.dispose();
  for (let r = 1; r < s.restarts; r++) {
    const run = apgdRun(model, x, y, s);
    worst.merge(run);
    for (const t of [run.xAdv, run.fooled, run.loss]) t.dispose();
  }
  return worst.result();
}

/** APGD-CE / APGD-DLR (or a targeted loss): BN in the attack mode, the worst case per example returned. */
export function apgd(model: Module, x: Tensor, y: Tensor, opts: ApgdOptions): AttackResult {
  const s = settings('apgd', opts);
  return withAttackMode(model, s.bnMode, () => runRestarts(model, x, y, s));
}

export interface ApgdTargetedOptions extends Omit<ApgdOptions, 'loss' | 'targets'> {
  /** How many target classes, the most likely first after the top one (default 9). */
  targetClasses?: number;
  /** Rank of the first target among the runner-up classes (1: the most likely after the top one; default 1). */
  targetFrom?: number;
}

/**
 * APGD-T: for t = 2 .. targetClasses + 1, APGD on the targeted DLR loss toward each example's t-th most
 * likely class of the clean logits, keeping the worst case over all targets.
 */
export function apgdTargeted(model: Module, x: Tensor, y: Tensor, opts: ApgdTargetedOptions): AttackResult {
  const s = settings('apgd-t', { ...opts, loss: 'ce' });
  const classes = positiveInt('apgd-t', 'targetClasses', opts.targetClasses ?? 9);
  const from = positiveInt('apgd-t', 'targetFrom', opts.targetFrom ?? 1);
  const last = from + classes - 1;
  return withAttackMode(model, s.bnMode, () => {
    const order = noGrad(() => scope(() => {
      const logits = model.forward(x);
      const k = logits.shape[1]!;
      if (k < last + 1) throw new RangeError(`apgd-t: target classes up to rank ${last} need at least ${last + 1} classes, the model has ${k}`);
      return o.topk(logits, last + 1).indices;
    }));
    let worst: WorstCase | null = null;
    try {
      for (let t = from; t <= last; t++) {
        const targets = keep(noGrad(() => scope(() => o.reshape(o.slice(order, 1, t, t + 1), [x.shape[0]!]))));
        try {
          const run = runRestarts(model, x, y, { ...s, loss: 'dlr-targeted', targets });
          if (!worst) worst = WorstCase.start(run.xAdv, run.loss, run.fooled);
          else worst.merge(run);
          for (const r of [run.xAdv, run.fooled, run.loss]) r.dispose();
        } finally {
          targets.dispose();
        }
      }
      return (worst as WorstCase | null)!.result();
    } catch (e) {
      (worst as WorstCase | null)?.dispose();
      throw e;
    } finally {
      order.dispose();
    }
  });
}
