/**
 * One training step of each objective: standard (clean cross-entropy), PGD adversarial training (Madry:
 * cross-entropy at the PGD point) and TRADES (clean cross-entropy + beta * KL(p(x) || p(x')) / B, both
 * branches differentiated). Each records the whole step (attack, forward, backward, optimizer update)
 * without a readback and returns the loss as a detached scalar tensor: read it only when it is printed.
 */
import * as o from '../engine/ops/index.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../engine/optim/index.js';
import { pgdAttack, type AttackConfig } from './attacks/pgd.js';
import { tradesAttack } from './attacks/trades.js';
import { pgdAtLoss, tradesLoss } from './losses.js';

export interface Batch { x: Tensor; y: Tensor }
type Opt = Optimizer<{ lr: number }>;

function update(model: Module, opt: Opt, loss: () => Tensor): Tensor {
  return scope(() => {
    model.train();
    const l = loss();
    l.backward();
    opt.step();
    opt.zeroGrad();
    return l.detach();
  });
}

export function standardStep(model: Module, opt: Opt, b: Batch): Tensor {
  return update(model, opt, () => o.crossEntropy(model.forward(b.x), b.y));
}

/** Madry et al.: the model trains on the PGD examples only (adversarial input is a constant). */
export function pgdAtStep(model: Module, opt: Opt, b: Batch, attack: AttackConfig): Tensor {
  return scope(() => {
    const adv = pgdAttack(model, b.x, b.y, attack);
    return update(model, opt, () => pgdAtLoss(model, adv, b.y));
  });
}

/**
 * TRADES (trades.py): the clean and adversarial forwards are separate train-mode calls (BN running
 * statistics see both), and the clean distribution is not detached inside the KL term.
 */
export function tradesStep(model: Module, opt: Opt, b: Batch, attack: AttackConfig & { beta: number }): Tensor {
  return scope(() => {
    const adv = tradesAttack(model, b.x, attack);
    return update(model, opt, () => tradesLoss(model, b.x, adv, b.y, attack.beta));
  });
}
