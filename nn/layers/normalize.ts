/**
 * Input normalisation (x - mean) / std per channel as the model's first layer, so attacks work in [0, 1]
 * pixel space and eps is measured there. mean/std are buffers (saved in checkpoints), not parameters.
 */
import { Module } from '../module.js';
import { tensor } from '../../engine/create.js';
import { div, sub } from '../../engine/ops/index.js';
import { getDefaultDevice, type Device } from '../../engine/device.js';
import type { Tensor } from '../../engine/tensor.js';

export class Normalize extends Module {
  constructor(readonly mean: readonly number[], readonly std: readonly number[], opts: { device?: Device } = {}) {
    super();
    if (mean.length !== std.length || std.some((s) => !(s > 0))) throw new RangeError(`Normalize: mean and std need the same length and std > 0, got mean [${mean}] std [${std}]`);
    const device = opts.device ?? getDefaultDevice();
    this.registerBuffer('mean', tensor(mean, [mean.length, 1, 1], { device }));
    this.registerBuffer('std', tensor(std, [std.length, 1, 1], { device }));
  }

  forward(x: Tensor): Tensor {
    if (x.shape[1] !== this.mean.length) throw new RangeError(`Normalize: input has ${x.shape[1]} channels (shape [${x.shape}]), mean/std have ${this.mean.length}`);
    return div(sub(x, this.own('mean')), this.own('std'));
  }
}
