/**
 * What an attack returns, and the per-example worst case it keeps on the GPU across iterations and
 * restarts: an example counts as broken once any iterate is misclassified (that iterate is kept), otherwise
 * its highest-loss iterate is kept. Nothing here reads back.
 */
import * as o from '../../engine/ops/index.js';
import { keep, scope, track } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { perExample } from './threat.js';

/** Plain data: the caller owns the tensors (dispose them, or return them from a scope). */
export interface AttackResult {
  /** The worst-case point per example (inside the threat model's ball and [0, 1]). */
  xAdv: Tensor;
  /** float32 [N]: 1 where the attack found a misclassified point. */
  fooled: Tensor;
  /** float32 [N]: the highest attack loss reached (at xAdv for examples not fooled). */
  loss: Tensor;
}

/** The running worst case of one batch. */
export class WorstCase {
  private constructor(public x: Tensor, public fooled: Tensor, public loss: Tensor) {}

  /** Starts from a point with its loss and misclassification mask. */
  static start(x: Tensor, loss: Tensor, wrong: Tensor): WorstCase {
    return noGrad(() => new WorstCase(keep(x.clone()), keep(wrong.clone()), keep(loss.clone())));
  }

  /**
   * Takes `x` for the examples not yet fooled where it is misclassified or raises the loss (strictly, as
   * AutoAttack's `loss > loss_best`); a fooled example keeps its point.
   */
  update(x: Tensor, loss: Tensor, wrong: Tensor): void {
    const next = noGrad(() => scope(() => {
      const open = o.sub(1, this.fooled);
      const take = o.mul(open, o.maximum(wrong, o.gt(loss, this.loss)));
      return {
        x: o.where(perExample(take, x), x, this.x),
        fooled: o.maximum(this.fooled, wrong),
        loss: o.maximum(this.loss, loss),
      };
    }));
    this.replace(next);
  }

  /** Folds another run's worst case (a restart) into this one, by the same rule. */
  merge(other: AttackResult): void {
    this.update(other.xAdv, other.loss, other.fooled);
  }

  private replace(next: { x: Tensor; fooled: Tensor; loss: Tensor }): void {
    this.x.dispose();
    this.fooled.dispose();
    this.loss.dispose();
    this.x = keep(next.x);
    this.fooled = keep(next.fooled);
    this.loss = keep(next.loss);
  }

  /** Hands the tensors over as a result (they join the current scope); this object is spent. */
  result(): AttackResult {
    for (const t of [this.x, this.fooled, this.loss]) track(t);
    return { xAdv: this.x, fooled: this.fooled, loss: this.loss };
  }

  dispose(): void {
    this.x.dispose();
    this.fooled.dispose();
    this.loss.dispose();
  }
}
