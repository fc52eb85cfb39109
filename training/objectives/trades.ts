/**
 * TRADES (Zhang et al., METHODS §3): CE on the clean batch + beta * KL(p(x) || p(x')) / B, x' from the KL
 * ascent of trades.py (start x + 0.001 N(0, I), sign steps, BN in the attack mode); the clean and adversarial
 * forwards are separate train-mode calls and the clean distribution is not detached (§10.6).
 */
import * as o from '../../engine/ops/index.js';
import { tradesAttack } from '../attacks/trades.js';
import type { AttackBnMode } from '../bn_mode.js';
import type { Norm } from '../attacks/threat.js';
import type { Objective } from './objective.js';

export interface TradesOptions { eps: number; alpha: number; steps: number; beta: number; norm?: Norm; bnMode?: AttackBnMode }

export function tradesObjective(a: TradesOptions): Objective {
  if (typeof a.beta !== 'number' || !Number.isFinite(a.beta) || a.beta < 0) throw new RangeError(`trades: beta must be a finite number >= 0, got ${String(a.beta)}`);
  return {
    name: 'trades',
    loss: (model, b, ctx) => {
      const adv = ctx.inAttack(() => tradesAttack(model, b.x, { ...a, generator: ctx.generator }));
      return ctx.inUpdate(() => {
        model.train();
        const nat = model.forward(b.x);
        const advLogits = model.forward(adv);
        const loss = o.add(o.crossEntropy(nat, b.y), o.mul(o.tradesKl(advLogits, nat, { reduction: 'sum', divideByBatch: true }), a.beta));
        return { loss, logits: nat };
      });
    },
    settings: () => ({ eps: a.eps, alpha: a.alpha, steps: a.steps, beta: a.beta, norm: a.norm ?? 'linf', start: 'normal', bnMode: a.bnMode ?? 'eval' }),
  };
}
