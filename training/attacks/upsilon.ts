/**
 * Upsilon, the first-order sensitivity of the adversarial loss to the W_p budget (METHODS §4.2):
 *   Upsilon = ( mean_i ||grad_x J(x_i, y_i)||_s^q )^(1/q)   over the whole evaluated set (robust_utils.comp_upsilon),
 * with the clean accuracy A, the clean loss V(0) and the conditional loss W(0) (the mean loss over the clean
 * images the model gets wrong), and the first-order accuracy estimate of §4.4, A - delta Upsilon / W(0). That
 * formula is our reconstruction, not a bound: the result calls it an estimate and says so.
 * One readback, at the end.
 */
import * as o from '../../engine/ops/index.js';
import { scope } from '../../engine/scope.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import { evalSet, joinRows, type EvalData } from './eval_set.js';
import { attackLoss, lossAndGrad, misclassified } from './objective.js';
import { W_LOSSES, type WLoss } from './wasserstein.js';
import { dualNormPerExample, upsilonOf, type WOrder } from './w_step.js';

export interface UpsilonOptions {
  q: WOrder;
  s: WOrder;
  /** The loss J; default 'ce' (the §4.4 estimate is stated for CE: ReDLR is 0 on every misclassified image). */
  loss?: WLoss;
  batchSize?: number;
  bnMode?: AttackBnMode;
}

export interface UpsilonResult {
  upsilon: number;
  /** Clean accuracy A. */
  cleanAccuracy: number;
  /** Mean loss V(0) on the clean set. */
  cleanLoss: number;
  /** W(0): mean loss over the misclassified clean images (NaN when there are none). */
  conditionalLoss: number;
  q: WOrder;
  s: WOrder;
  loss: WLoss;
  n: number;
}

export async function upsilon(model: Module, data: EvalData, opts: UpsilonOptions): Promise<UpsilonResult> {
  const { q, s } = opts;
  if ((q !== 1 && q !== 2) || (s !== 1 && s !== 2)) throw new RangeError(`upsilon: q and s must each be 1 or 2, got q ${String(q)}, s ${String(s)}`);
  const loss = opts.loss ?? 'ce';
  if (!W_LOSSES.includes(loss)) throw new RangeError(`upsilon: loss must be one of ${W_LOSSES.join(', ')}, got ${JSON.stringify(loss)}`);
  const set = evalSet('upsilon', data, opts.batchSize);
  try {
    const summary = withAttackMode(model, opts.bnMode ?? 'eval', () => scope(() => {
      const rows = set.batches.map((b) => scope(() => {
        const at = lossAndGrad(model, b.x, (z) => attackLoss(loss, z, b.y));
        return { norm: dualNormPerExample(at.grad, s), loss: at.loss, wrong: misclassified(at.logits, b.y) };
      }));
      const l = joinRows(rows.map((r) => r.loss));
      const wrong = joinRows(rows.map((r) => r.wrong));
      const parts = [upsilonOf(joinRows(rows.map((r) => r.norm)), q), o.sum(wrong), o.sum(l), o.sum(o.mul(l, wrong))];
      return o.concat(parts.map((t) => o.reshape(t, [1])));
    }));
    let v: Float32Array;
    try {
      v = (await summary.read()) as Float32Array;
    } finally {
      summary.dispose();
    }
    const [u, wrong, lossSum, wrongLoss] = [v[0]!, v[1]!, v[2]!, v[3]!];
    return { upsilon: u, cleanAccuracy: 1 - wrong / set.n, cleanLoss: lossSum / set.n, conditionalLoss: wrong > 0 ? wrongLoss / wrong : NaN, q, s, loss, n: set.n };
  } finally {
    set.release();
  }
}

export interface AccuracyEstimate {
  kind: 'estimate';
  /** A - delta Upsilon / W(0), clipped to [0, 1]; NaN when W(0) is undefined or not positive. */
  accuracy: number;
  /** The same before the clip (below 0 when the first-order term exceeds A). */
  raw: number;
  delta: number;
  formula: 'A - delta * Upsilon / W(0)';
  note: string;
}

/** The first-order accuracy estimate of METHODS §4.4 at budget delta: an estimate, not a bound. */
export function upsilonEstimate(u: UpsilonResult, delta: number): AccuracyEstimate {
  const raw = u.conditionalLoss > 0 ? u.cleanAccuracy - (delta * u.upsilon) / u.conditionalLoss : NaN;
  return {
    kind: 'estimate', accuracy: Number.isNaN(raw) ? NaN : Math.min(1, Math.max(0, raw)), raw, delta, formula: 'A - delta * Upsilon / W(0)',
    note: `first-order estimate (robustgpu's reconstruction of Bai et al. 2023, METHODS §4.4), ${u.loss} loss, q ${u.q}, s ${u.s}, N ${u.n}; not a bound`,
  };
}
