/**
 * The iterate of a whole-set attack with the lowest accuracy (W-PGD's acc_min, METHODS §4.3), kept on the GPU:
 * every iterate's correct count is summed on the device, compared with the best so far, and each batch's best
 * point is replaced by a compare-and-select (a weighted sum with one-hot coefficients [take, 1 - take], an exact
 * select in one plain dispatch). Ties keep the earlier iterate. Nothing is read back until `read`.
 */
import * as o from '../../engine/ops/index.js';
import { full } from '../../engine/create.js';
import { keep, scope, track } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { EvalSet } from './eval_set.js';
import { joinRows } from './eval_set.js';

/** Kept tensors, one per batch, replaced one at a time (the old one disposed). */
export class KeptRows {
  constructor(readonly t: Tensor[]) { keep(t); }
  set(i: number, v: Tensor): void { this.t[i]!.dispose(); this.t[i] = keep(v); }
  dispose(): void { this.t.forEach((v) => v.dispose()); }
}

/** What one iterate shows of one batch: its points, 1 where classified correctly ([B]), the attack loss ([B]). */
export interface IterateRow { point: Tensor; correct: Tensor; loss: Tensor }

export interface TrajectoryResult {
  /** The lowest accuracy over the iterates (0 = the clean set, up to the last). */
  accuracy: number;
  /** The iterate that reached it. */
  bestStep: number;
  /** Accuracy of every iterate. */
  trajectory: number[];
  /** The highest mean attack loss over the iterates. */
  lossMax: number;
  /** W_p distance of the best iterate to the clean set, in the cost norm (q = 2: RMS of the per-image radii; q = 1: their max). */
  wDistance: number;
  n: number;
  /** float32 [N]: 1 where the best iterate is classified correctly. */
  correct: Tensor;
  /** The best iterate, one tensor per batch of the evaluated set (the caller owns them). */
  xAdv: Tensor[];
}

export class BestIterate {
  private readonly best: KeptRows;
  private readonly bestCorrect: KeptRows;
  /** [best correct count, its iterate, the loss maximum]. */
  private readonly scalars: KeptRows;
  private readonly counts: Tensor[] = [];

  constructor(private readonly set: EvalSet) {
    this.best = new KeptRows(set.batches.map((b) => o.clone(b.x)));
    this.bestCorrect = new KeptRows(set.batches.map((b) => o.zeros([b.x.shape[0]!])));
    this.scalars = new KeptRows([full([], Infinity), full([], 0), full([], -Infinity)]);
  }

  /** Iterate t, as rows of every batch. */
  observe(t: number, rows: readonly IterateRow[]): void {
    const s = this.scalars.t;
    const next = noGrad(() => scope(() => {
      const count = o.sum(joinRows(rows.map((r) => r.correct)));
      const take = o.lt(count, s[0]!);
      const pick = o.concat([o.reshape(take, [1]), o.reshape(o.sub(1, take), [1])]);
      return {
        count: o.reshape(count, [1]),
        scalars: [o.minimum(count, s[0]!), o.where(take, t, s[1]!), o.maximum(s[2]!, o.mean(joinRows(rows.map((r) => r.loss))))],
        best: rows.map((r, i) => o.weightedSum(pick, [r.point, this.best.t[i]!])),
        correct: rows.map((r, i) => o.weightedSum(pick, [r.correct, this.bestCorrect.t[i]!])),
      };
    }));
    this.counts.push(keep(next.count));
    next.scalars.forEach((v, k) => this.scalars.set(k, v));
    next.best.forEach((v, i) => this.best.set(i, v));
    next.correct.forEach((v, i) => this.bestCorrect.set(i, v));
  }

  /** Reads the trajectory back (one small vector) and hands the best iterate over; this object is spent. */
  async read(distance: (best: readonly Tensor[]) => Tensor): Promise<TrajectoryResult> {
    const n = this.set.n;
    const out = noGrad(() => scope(() => ({
      correct: joinRows(this.bestCorrect.t),
      summary: o.concat([...this.counts, ...[this.scalars.t[2]!, this.scalars.t[1]!, distance(this.best.t)].map((v) => o.reshape(v, [1]))]),
    })));
    try {
      const v = await out.summary.read();
      const steps = this.counts.length;
      const trajectory = Array.from(v.subarray(0, steps), (c) => c / n);
      const bestStep = v[steps + 1]!;
      const xAdv = this.best.t.slice();
      xAdv.forEach(track);
      this.best.t.length = 0;
      return { accuracy: trajectory[bestStep]!, bestStep, trajectory, lossMax: v[steps]!, wDistance: v[steps + 2]!, n, correct: out.correct, xAdv };
    } catch (e) {
      out.correct.dispose();
      throw e;
    } finally {
      out.summary.dispose();
      this.dispose();
    }
  }

  /** Frees everything still held (after `read`, only what it did not hand over). */
  dispose(): void {
    this.best.dispose();
    this.bestCorrect.dispose();
    this.scalars.dispose();
    this.counts.forEach((c) => c.dispose());
    this.counts.length = 0;
  }
}
