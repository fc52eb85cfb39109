/**
 * Stochastic gradient descent with momentum, as torch.optim.SGD: the weight decay is added to the gradient
 * (g + wd p), the momentum buffer starts as the first (decayed) gradient without dampening, then
 * buf = momentum buf + (1 - dampening) g; Nesterov steps along g + momentum buf, otherwise along buf.
 * One fused kernel (kernels/sgd.wgsl) per parameter tensor and step.
 */
import { Optimizer, checks, type ParamGroup, type ParamGroupOptions, type ParamState } from './optimizer.js';
import type { Tensor } from '../tensor.js';
import { runSgdStep } from '../../kernels/sgd.js';

export interface SgdOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SgdOptions> {
  constructor(params: readonly Tensor[] | readonly ParamGroupOptions<SgdOptions>[], opts: Partial<SgdOptions> & { lr: number }) {
    super('SGD', params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...opts }, {
      lr: { key: 'lr', check: checks.nonNegative },
      momentum: { key: 'momentum', check: checks.nonNegative },
      dampening: { key: 'dampening', check: checks.number },
      weightDecay: { key: 'weight_decay', check: checks.nonNegative },
      nesterov: { key: 'nesterov', check: checks.boolean },
    }, ['momentum_buffer']);
  }

  protected override checkGroup(h: Partial<SgdOptions>, where: string): void {
    if (h.nesterov && (!(h.momentum! > 0) || h.dampening !== 0)) {
      throw new RangeError(`${where}: Nesterov momentum requires a momentum > 0 and zero dampening, got momentum ${h.momentum}, dampening ${h.dampening}`);
    }
  }

  protected update(p: Tensor, g: Tensor, group: ParamGroup<SgdOptions>, st: ParamState): void {
    const useMomentum = group.momentum !== 0;
    // A gated step may be skipped, so its momentum buffer starts as zeros rather than as this step's gradient
    // (the same first step unless dampening != 0: then the buffer starts as (1 - dampening) g).
    const gate = this.currentGate;
    const buf = useMomentum ? this.buffer(p, st, 'momentum_buffer', !!gate) : null;
    runSgdStep(p.device, {
      param: p.storage.binding(), grad: g.storage.binding(), buf: (buf?.t ?? this.placeholder(p.device)).storage.binding(), gate: gate?.storage.binding() ?? null,
    }, {
      n: p.size, lr: group.lr, momentum: group.momentum, dampening: group.dampening, weightDecay: group.weightDecay, nesterov: group.nesterov,
      first: !gate && (buf?.fresh ?? false),
    });
    if (buf) buf.t.storage.version++;
  }
}
