/**
 * AutoAttack (Croce & Hein 2020) as fra31/auto-attack's run_standard_evaluation composes it (METHODS §1.3):
 * the clean prediction first, then each attack in turn on the examples still robust, an example counting as
 * robust only while every attack so far failed on it (checked by a fresh forward at the returned point, as
 * the reference does). 'standard': APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5000 queries);
 * 'plus': APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T; or any list.
 * The still-robust examples are compacted on the GPU (compactIndices): one 4-byte readback per attack, which
 * is also the robust count that attack's row reports. AutoAttack's own checks (a randomised model,
 * probabilities instead of logits, zero gradients, too few classes for the targets, Square beating the
 * white-box attacks) become warnings in the report.
 */
import * as o from '../../engine/ops/index.js';
import { Generator } from '../../engine/rng.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackModeAsync, type AttackBnMode } from '../bn_mode.js';
import { apgd, apgdTargeted } from './apgd.js';
import { fab } from './fab.js';
import { eachTarget } from './targets.js';
import { square } from './square.js';
import { lossAndGrad, misclassified } from './objective.js';
import type { AttackResult } from './result.js';
import { checkThreat, normPerExample, perExample, type Norm, type ThreatModel } from './threat.js';

export const AUTOATTACK_ATTACKS = ['apgd-ce', 'apgd-dlr', 'apgd-t', 'fab', 'fab-t', 'square'] as const;
export type AutoAttackName = (typeof AUTOATTACK_ATTACKS)[number];

export const AUTOATTACK_VERSIONS: Record<'standard' | 'plus', readonly AutoAttackName[]> = {
  standard: ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
  plus: ['apgd-ce', 'apgd-dlr', 'fab', 'square', 'apgd-t', 'fab-t'],
};

export interface AutoAttackOptions extends ThreatModel {
  /** 'standard' (default), 'plus', or the attacks to run, in order. */
  version?: 'standard' | 'plus';
  attacks?: readonly AutoAttackName[];
  /** Examples per attack call (AutoAttack's bs, default 250). */
  batchSize?: number;
  /** Iterations of the APGD and FAB attacks (default 100) and Square's queries (default 5000). */
  steps?: number;
  queries?: number;
  /** Target classes of APGD-T and FAB-T (default 9, at most K - 1). */
  targetClasses?: number;
  bnMode?: AttackBnMode;
  generator: Generator;
  /** After every attack batch: the attack, examples done of the still-robust set, and its size. */
  onProgress?: (attack: AutoAttackName, done: number, total: number) => void;
}

export interface AutoAttackRow { attack: AutoAttackName; robustAccuracy: number; seconds: number }

export interface AutoAttackReport {
  n: number;
  norm: Norm;
  eps: number;
  attacks: AutoAttackName[];
  cleanAccuracy: number;
  /** Robust accuracy after each attack, in order. */
  rows: AutoAttackRow[];
  robustAccuracy: number;
  /** Per example: still correctly classified after every attack. */
  robust: Uint8Array;
  /** The worst-case points (x itself where every attack failed), inside the ball and [0, 1]. */
  xAdv: Tensor;
  warnings: string[];
}

/** How AutoAttack configures each attack ('plus' gives the untargeted ones 5 restarts). Square reads counts, so it is async. */
function runAttack(name: AutoAttackName, model: Module, x: Tensor, y: Tensor, o2: { threat: ThreatModel; restarts: number; steps: number; queries: number; targets: number; generator: Generator; bnMode: AttackBnMode }): AttackResult | Promise<AttackResult> {
  const base = { ...o2.threat, bnMode: o2.bnMode, generator: o2.generator };
  switch (name) {
    case 'apgd-ce': return apgd(model, x, y, { ...base, steps: o2.steps, restarts: o2.restarts, loss: 'ce' });
    case 'apgd-dlr': return apgd(model, x, y, { ...base, steps: o2.steps, restarts: o2.restarts, loss: 'dlr' });
    case 'apgd-t': return eachTarget(x.device, o2.targets, (rank) => apgdTargeted(model, x, y, { ...base, steps: o2.steps, targetFrom: rank, targetClasses: 1 }));
    case 'fab': return fab(model, x, y, { ...base, steps: o2.steps, restarts: o2.restarts, targeted: false });
    case 'fab-t': return eachTarget(x.device, o2.targets, (rank) => fab(model, x, y, { ...base, steps: o2.steps, restarts: 1, targeted: true, targetFrom: rank, targetClasses: 1 }));
    case 'square': return square(model, x, y, { ...base, queries: o2.queries });
  }
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`autoAttack: ${name} must be an integer >= 1, got ${String(v)}`);
  return v;
}

/** AutoAttack's pre-flight checks, on the first batch (one small readback). */
async function checks(model: Module, x: Tensor, y: Tensor, attacks: readonly AutoAttackName[], targets: number, norm: Norm): Promise<{ warnings: string[]; classes: number }> {
  const warnings: string[] = [];
  let classes = 0;
  const probe = noGrad(() => scope(() => {
    const a = model.forward(x);
    const b = model.forward(x);
    classes = a.shape[1]!;
    const rowSums = o.sum(a, 1);
    return keep(o.concat([
      o.reshape(o.max(o.abs(o.sub(a, b))), [1]),
      o.reshape(o.min(a), [1]), o.reshape(o.max(a), [1]),
      o.reshape(o.max(o.abs(o.sub(rowSums, 1))), [1]),
    ]));
  }));
  const grads = keep(scope(() => {
    const { grad } = lossAndGrad(model, x, (z) => o.crossEntropy(z, y, { reduction: 'none' }));
    return o.sum(o.eq(normPerExample(grad, norm), 0));
  }));
  const [diff, lo, hi, sumDev] = Array.from(await probe.read());
  const zero = await grads.item();
  probe.dispose();
  grads.dispose();
  if (diff! > 0) warnings.push(`the model is randomised (two forwards of the same batch differ by up to ${diff!.toExponential(2)}): use an EOT attack ('rand' version), these numbers over-state robustness`);
  if (lo! >= 0 && hi! <= 1 && sumDev! < 1e-5) warnings.push('the model outputs probabilities (rows in [0, 1] summing to 1), not logits: the attack losses expect logits');
  if (zero > 0) warnings.push(`${zero} of ${x.shape[0]} examples have an all-zero input gradient of the cross-entropy: gradient-based attacks may be unreliable on them (gradient masking?)`);
  if ((attacks.includes('apgd-t') || attacks.includes('fab-t')) && classes <= targets) {
    warnings.push(`the targeted attacks use ${targets} target classes but the model has ${classes}: using ${classes - 1}`);
  }
  return { warnings, classes };
}

/**
 * Runs AutoAttack on (x, y): returns the clean and robust accuracy, the robust accuracy after each attack,
 * the per-example robustness and worst-case points, and the warnings of AutoAttack's checks.
 */
export async function autoAttack(model: Module, x: Tensor, y: Tensor, opts: AutoAttackOptions): Promise<AutoAttackReport> {
  const threat = checkThreat('autoAttack', opts);
  const version = opts.version ?? 'standard';
  if (opts.attacks && opts.version) throw new RangeError("autoAttack: give either version or attacks, not both");
  if (!opts.attacks && !(version in AUTOATTACK_VERSIONS)) throw new RangeError(`autoAttack: version must be 'standard' or 'plus', got ${JSON.stringify(version)}`);
  const attacks = [...(opts.attacks ?? AUTOATTACK_VERSIONS[version])];
  for (const a of attacks) if (!AUTOATTACK_ATTACKS.includes(a)) throw new RangeError(`autoAttack: unknown attack ${JSON.stringify(a)} (known: ${AUTOATTACK_ATTACKS.join(', ')})`);
  const batchSize = positiveInt('batchSize', opts.batchSize ?? 250);
  const steps = positiveInt('steps', opts.steps ?? 100);
  const queries = positiveInt('queries', opts.queries ?? 5000);
  let targets = positiveInt('targetClasses', opts.targetClasses ?? 9);
  const restarts = !opts.attacks && version === 'plus' ? 5 : 1;
  const bnMode = opts.bnMode ?? 'eval';
  const n = x.shape[0]!;
  if (y.shape.length !== 1 || y.shape[0] !== n) throw new RangeError(`autoAttack: labels must be [${n}] to match x, got [${y.shape}]`);

  return withAttackModeAsync(model, bnMode, async () => {
    const first = noGrad(() => scope(() => ({ x: keep(o.slice(x, 0, 0, Math.min(n, batchSize))), y: keep(o.slice(y, 0, 0, Math.min(n, batchSize))) })));
    const pre = await checks(model, first.x, first.y, attacks, targets, threat.norm);
    first.x.dispose();
    first.y.dispose();
    targets = Math.min(targets, pre.classes - 1);
    // robust: float32 [N], 1 while correctly classified by every attack so far.
    let robust = keep(noGrad(() => scope(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < n; s += batchSize) {
        const xb = o.slice(x, 0, s, Math.min(n, s + batchSize));
        parts.push(o.sub(1, misclassified(model.forward(xb), o.slice(y, 0, s, Math.min(n, s + batchSize)))));
      }
      return parts.length === 1 ? parts[0]! : o.concat(parts);
    })));
    let xAdv = keep(noGrad(() => o.clone(x)));
    const rows: AutoAttackRow[] = [];
    try {
      let count = n === 0 ? 0 : await robustCount(robust);
      const cleanAccuracy = n === 0 ? 0 : count / n;
      for (const attack of attacks) {
        const t0 = performance.now();
        if (count > 0) {
          const idx = keep(noGrad(() => scope(() => o.slice(o.compactIndices(robust).indices, 0, 0, count))));
          try {
            for (let s = 0; s < count; s += batchSize) {
              const batch = noGrad(() => scope(() => {
                const ib = o.slice(idx, 0, s, Math.min(count, s + batchSize));
                return { ib, xb: o.indexSelect(x, 0, ib, { unique: true }), yb: o.indexSelect(y, 0, ib, { unique: true }) };
              }));
              keep(batch);
              let r: AttackResult | null = null;
              try {
                r = await runAttack(attack, model, batch.xb, batch.yb, { threat, restarts, steps, queries, targets, generator: opts.generator, bnMode });
                // Drained after every batch: see targets.ts for what a long stretch without an await costs.
                await x.device.sync();
                const res = r;
                const next = noGrad(() => scope(() => {
                  // As the reference: an example is broken only if the returned point is misclassified now.
                  const wrong = misclassified(model.forward(res.xAdv), batch.yb);
                  const kept = o.where(perExample(wrong, batch.xb), res.xAdv, batch.xb);
                  return { robust: o.indexCopy(robust, 0, batch.ib, o.sub(1, wrong), { unique: true }), xAdv: o.indexCopy(xAdv, 0, batch.ib, kept, { unique: true }) };
                }));
                robust.dispose();
                xAdv.dispose();
                robust = keep(next.robust);
                xAdv = keep(next.xAdv);
              } finally {
                for (const t of [batch.ib, batch.xb, batch.yb, ...(r ? [r.xAdv, r.fooled, r.loss] : [])]) t.dispose();
              }
              opts.onProgress?.(attack, Math.min(count, s + batchSize), count);
            }
          } finally {
            idx.dispose();
          }
          count = await robustCount(robust);
        }
        rows.push({ attack, robustAccuracy: n === 0 ? 0 : count / n, seconds: (performance.now() - t0) / 1000 });
      }
      const warnings = [...pre.warnings];
      const sq = attacks.indexOf('square');
      if (sq > 0 && rows[sq]!.robustAccuracy < rows[sq - 1]!.robustAccuracy) {
        warnings.push(`Square (black-box) lowered the robust accuracy after the white-box attacks (${pct(rows[sq - 1]!.robustAccuracy)} -> ${pct(rows[sq]!.robustAccuracy)}): a sign of gradient masking`);
      }
      const mask = Uint8Array.from(n === 0 ? [] : await robust.read(), (v) => (v ? 1 : 0));
      robust.dispose();
      return { n, norm: threat.norm, eps: threat.eps, attacks, cleanAccuracy, rows, robustAccuracy: n === 0 ? 0 : count / n, robust: mask, xAdv, warnings };
    } catch (e) {
      robust.dispose();
      xAdv.dispose();
      throw e;
    }
  });
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/** The number of still-robust examples (the one readback of an attack). */
async function robustCount(robust: Tensor): Promise<number> {
  const s = noGrad(() => o.sum(robust));
  try {
    return await s.item();
  } finally {
    s.dispose();
  }
}
