/** Standard training: mean cross-entropy of the clean batch. */
import * as o from '../../engine/ops/index.js';
import type { Objective } from './objective.js';

export function standardObjective(): Objective {
  return {
    name: 'standard',
    loss: (model, b, ctx) => ctx.inUpdate(() => {
      model.train();
      const logits = model.forward(b.x);
      return { loss: o.crossEntropy(logits, b.y), logits };
    }),
    settings: () => ({}),
  };
}
