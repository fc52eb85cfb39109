/**
 * BatchNorm2d with PyTorch's parameters and buffers (weight, bias, running_mean, running_var,
 * num_batches_tracked). Modes are explicit module state: training uses batch statistics and updates the
 * running ones, eval uses the running ones, and `freezeStats` keeps batch statistics but never updates the
 * running ones (for attacks run in train mode, METHODS §10.1).
 */
import { Module } from '../module.js';
import { batchNorm2d } from '../../engine/ops/batch_norm.js';
import { full } from '../../engine/create.js';
import { incrementInPlace } from '../../engine/inplace.js';
import { getDefaultDevice, type Device } from '../../engine/device.js';
import type { Tensor } from '../../engine/tensor.js';

export class BatchNorm2d extends Module {
  /** Train mode without running-statistic updates. */
  freezeStats = false;
  /**
   * The running statistics' update weight in train mode, mutable as PyTorch's `momentum`: a soup's statistics
   * are recomputed as a cumulative average by setting 1/(b+1) before batch b (training/soups/bn.ts).
   */
  momentum: number;

  constructor(readonly numFeatures: number, readonly opts: { eps?: number; momentum?: number; device?: Device } = {}) {
    super();
    this.momentum = opts.momentum ?? 0.1;
    const device = opts.device ?? getDefaultDevice();
    this.registerParameter('weight', full([numFeatures], 1, { device }));
    this.registerParameter('bias', full([numFeatures], 0, { device }));
    this.registerBuffer('running_mean', full([numFeatures], 0, { device }));
    this.registerBuffer('running_var', full([numFeatures], 1, { device }));
    this.registerBuffer('num_batches_tracked', full([], 0, { device, dtype: 'int32' }));
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.numFeatures) throw new RangeError(`BatchNorm2d(${this.numFeatures}): expected an NCHW input with ${this.numFeatures} channels, got shape [${x.shape}]`);
    const mode = !this.training ? 'eval' : this.freezeStats ? 'train_frozen' : 'train';
    const y = batchNorm2d(x, this.own('weight'), this.own('bias'), this.own('running_mean'), this.own('running_var'), {
      mode, momentum: this.momentum, eps: this.opts.eps ?? 1e-5,
    });
    if (mode === 'train') incrementInPlace(this.own('num_batches_tracked'));
    return y;
  }
}
