/** Training objectives' losses (to check or compose a step) and helpers around the loss ops. */
import * as o from '../engine/ops/index.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';

/** Madry et al.: mean cross-entropy at the adversarial points (a constant input: no gradient into the attack). */
export function pgdAtLoss(model: Module, xAdv: Tensor, labels: Tensor): Tensor {
  return o.crossEntropy(model.forward(xAdv), labels);
}

/**
 * TRADES (trades.py): CE(f(x), y) + beta * sum_i KL(p(x_i) || p(x'_i)) / B, with the clean and adversarial
 * forwards as separate calls (in train mode both update BN statistics) and the clean distribution not
 * detached in the KL term.
 */
export function tradesLoss(model: Module, x: Tensor, xAdv: Tensor, labels: Tensor, beta: number): Tensor {
  const nat = model.forward(x);
  const adv = model.forward(xAdv);
  return o.add(o.crossEntropy(nat, labels), o.mul(o.tradesKl(adv, nat, { reduction: 'sum', divideByBatch: true }), beta));
}

/** Fraction of rows whose argmax equals the label (labels int32 [B]); reads back one small tensor. */
export async function accuracy(logits: Tensor, labels: Int32Array): Promise<number> {
  const pred = o.argmax(logits, 1);
  try {
    const p = await pred.read();
    let ok = 0;
    for (let i = 0; i < labels.length; i++) if (p[i] === labels[i]) ok++;
    return ok / labels.length;
  } finally {
    pred.dispose();
  }
}
