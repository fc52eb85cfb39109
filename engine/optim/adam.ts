/**
 * Adam and AdamW, as torch.optim.Adam / AdamW: moments m and v, bias corrections with this parameter's
 * step count t (kept on the CPU, passed as uniforms), eps added after the square root of the corrected v,
 * optional amsgrad. Adam adds the weight decay to the gradient (L2); AdamW decays the parameter itself,
 * p -= lr wd p, before the Adam step (decoupled). One fused kernel (kernels/adam.wgsl) per parameter tensor.
 */
import { Optimizer, checks, type ParamGroup, type ParamGroupOptions, type ParamState } from './optimizer.js';
import type { Tensor } from '../tensor.js';
import { runAdamStep } from '../../kernels/adam.js';

export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
}

const HYPER = {
  lr: { key: 'lr', check: checks.nonNegative },
  betas: { key: 'betas', check: checks.betas },
  eps: { key: 'eps', check: checks.nonNegative },
  weightDecay: { key: 'weight_decay', check: checks.nonNegative },
  amsgrad: { key: 'amsgrad', check: checks.boolean },
};
const BUFFERS = ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'];

type Params = readonly Tensor[] | readonly ParamGroupOptions<AdamOptions>[];

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected update(p: Tensor, g: Tensor, group: ParamGroup<AdamOptions>, st: ParamState): void {
    const names = group.amsgrad ? BUFFERS : BUFFERS.slice(0, 2);
    // Buffers created together are read as zeros by the kernel; one that joins later is zero-filled, and so is
    // every buffer of a gated step (a skipped first step must leave zeros, not uninitialised memory).
    const gate = this.currentGate;
    const first = !gate && names.every((n) => !st.buffers.has(n));
    const [m, v, mx] = names.map((n) => this.buffer(p, st, n, !first).t);
    runAdamStep(p.device, {
      param: p.storage.binding(), grad: g.storage.binding(), expAvg: m!.storage.binding(), expAvgSq: v!.storage.binding(),
      maxExpAvgSq: (mx ?? this.placeholder(p.device)).storage.binding(), gate: gate?.storage.binding() ?? null,
    }, {
      n: p.size, lr: group.lr, beta1: group.betas[0], beta2: group.betas[1], eps: group.eps, weightDecay: group.weightDecay,
      amsgrad: group.amsgrad, decoupled: this.decoupled, step: st.step, first,
    });
    for (const t of [m, v, mx]) if (t) t.storage.version++;
  }
}

/** Adam (Kingma & Ba) with L2 weight decay added to the gradient, as torch.optim.Adam. */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: Params, opts: Partial<AdamOptions> = {}) {
    super('Adam', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, ...opts }, HYPER, BUFFERS);
  }
}

/** AdamW (Loshchilov & Hutter): decoupled weight decay p -= lr wd p before the Adam step, as torch.optim.AdamW (default wd 0.01). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Params, opts: Partial<AdamOptions> = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, ...opts }, HYPER, BUFFERS);
  }
}
