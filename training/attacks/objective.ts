/**
 * What an attack maximises, per example, and the one forward + backward every gradient attack takes per
 * iteration: the loss vector, the logits (for the prediction) and the input gradient of the summed loss
 * (each example gets its own unscaled gradient, METHODS §1.1), with no weight gradients computed.
 */
import * as o from '../../engine/ops/index.js';
import { scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';

/** Untargeted losses use the labels; '-targeted' ones move toward `targets`. */
export const ATTACK_LOSSES = ['ce', 'dlr', 'cw', 'redlr', 'ce-targeted', 'dlr-targeted', 'cw-targeted'] as const;
export type AttackLoss = (typeof ATTACK_LOSSES)[number];

export const isTargeted = (l: AttackLoss): boolean => l.endsWith('-targeted');

export function checkLoss(what: string, loss: unknown, targets: Tensor | undefined): AttackLoss {
  if (!ATTACK_LOSSES.includes(loss as AttackLoss)) throw new RangeError(`${what}: loss must be one of ${ATTACK_LOSSES.join(', ')}, got ${JSON.stringify(loss)}`);
  if (isTargeted(loss as AttackLoss) !== !!targets) {
    throw new RangeError(`${what}: loss '${String(loss)}' ${isTargeted(loss as AttackLoss) ? 'needs' : 'takes no'} targets`);
  }
  return loss as AttackLoss;
}

/** The per-example loss [N] an attack maximises. */
export function attackLoss(loss: AttackLoss, logits: Tensor, labels: Tensor, targets?: Tensor): Tensor {
  switch (loss) {
    case 'ce': return o.crossEntropy(logits, labels, { reduction: 'none' });
    case 'dlr': return o.dlr(logits, labels);
    case 'redlr': return o.redlr(logits, labels);
    case 'cw': return o.cwMargin(logits, labels);
    case 'ce-targeted': return o.neg(o.crossEntropy(logits, targets!, { reduction: 'none' }));
    case 'dlr-targeted': return o.dlrTargeted(logits, labels, targets!);
    case 'cw-targeted': return o.cwMargin(logits, labels, targets!);
  }
}

/** 1 where the prediction is not the label (the attack succeeded on that example), as float32 [N]. */
export function misclassified(logits: Tensor, labels: Tensor): Tensor {
  return noGrad(() => scope(() => o.ne(o.toFloat32(o.argmax(logits, 1)), o.toFloat32(labels))));
}

export interface LossGrad {
  /** Per-example loss [N] at the point. */
  loss: Tensor;
  logits: Tensor;
  /** d sum(loss) / d point. */
  grad: Tensor;
}

/**
 * One forward and backward at `point`: the loss of its logits, and the gradient with respect to the point
 * only (the model's parameters are not targets, so no weight-gradient work runs). The caller chooses the
 * model's mode (attacks run inside withAttackMode).
 */
export function lossAndGrad(model: Module, point: Tensor, lossOf: (logits: Tensor) => Tensor): LossGrad {
  return scope(() => {
    const xa = point.detach();
    xa.requiresGrad = true;
    const logits = model.forward(xa);
    const loss = lossOf(logits);
    const [grad] = o.gradOf([o.sum(loss)], [xa]);
    return { loss: loss.detach(), logits: logits.detach(), grad: grad! };
  });
}

/** The logits and loss at a point without a gradient (the last iterate of a run). */
export function lossAt(model: Module, point: Tensor, lossOf: (logits: Tensor) => Tensor): { loss: Tensor; logits: Tensor } {
  return noGrad(() => scope(() => {
    const logits = model.forward(point);
    return { loss: lossOf(logits), logits };
  }));
}
