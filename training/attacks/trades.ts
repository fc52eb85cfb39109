/**
 * The TRADES inner maximisation (trades.py): from x + 0.001 N(0, I), sign steps on
 * sum_i KL(softmax(f(x_i)) || softmax(f(x'_i))) with the clean distribution held fixed, BN in eval mode.
 */
import * as o from '../../engine/ops/index.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { withAttackMode } from '../bn_mode.js';
import { projectedAscent, type AttackConfig } from './pgd.js';

/**
 * The TRADES attack objective: x' -> sum_i KL(p(x_i) || p(f(x'_i))) with the clean logits `nat` held fixed
 * (a batch sum, so every example gets its own unscaled gradient).
 */
export function tradesAttackObjective(model: Module, nat: Tensor): (xAdv: Tensor) => Tensor {
  return (z) => o.tradesKl(model.forward(z), nat, { reduction: 'sum' });
}

export function tradesAttack(model: Module, x: Tensor, cfg: AttackConfig): Tensor {
  return withAttackMode(model, cfg.bnMode ?? 'eval', () => {
    const nat = noGrad(() => model.forward(x));
    try {
      return projectedAscent(tradesAttackObjective(model, nat), x, cfg, 'normal');
    } finally {
      nat.dispose();
    }
  });
}
