/**
 * PGD adversarial training (Madry et al., METHODS §2): the model trains on the last PGD iterate only,
 * crafted in the attack BN mode (never updating running statistics), then a train-mode forward.
 */
import * as o from '../../engine/ops/index.js';
import { pgdAttack } from '../attacks/pgd.js';
import type { AttackBnMode } from '../bn_mode.js';
import type { Norm } from '../attacks/threat.js';
import type { Objective } from './objective.js';

export interface PgdAtOptions { eps: number; alpha: number; steps: number; norm?: Norm; bnMode?: AttackBnMode }

export function pgdAtObjective(a: PgdAtOptions): Objective {
  return {
    name: 'pgd-at',
    loss: (model, b, ctx) => {
      const adv = ctx.inAttack(() => pgdAttack(model, b.x, b.y, { ...a, generator: ctx.generator }));
      return ctx.inUpdate(() => {
        model.train();
        const logits = model.forward(adv);
        return { loss: o.crossEntropy(logits, b.y), logits };
      });
    },
    settings: () => ({ eps: a.eps, alpha: a.alpha, steps: a.steps, norm: a.norm ?? 'linf', start: 'uniform', bnMode: a.bnMode ?? 'eval' }),
  };
}
