/** PyTorch's Conv2d (weight [out, in/groups, kh, kw]) with its default initialisation. */
import { Module } from '../module.js';
import { conv2d, type Conv2dOptions } from '../../engine/ops/conv2d.js';
import { kaimingUniformDefault, uniform, type InitContext } from '../init.js';
import type { Tensor } from '../../engine/tensor.js';

export interface Conv2dConfig { stride?: number; padding?: number; dilation?: number; groups?: number; bias?: boolean }

export class Conv2d extends Module {
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, cfg: Conv2dConfig & InitContext = {}) {
    super();
    this.stride = cfg.stride ?? 1;
    this.padding = cfg.padding ?? 0;
    this.dilation = cfg.dilation ?? 1;
    this.groups = cfg.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) throw new RangeError(`Conv2d: in (${inChannels}) and out (${outChannels}) channels must be divisible by groups (${this.groups})`);
    const shape = [outChannels, inChannels / this.groups, kernelSize, kernelSize];
    this.registerParameter('weight', kaimingUniformDefault(shape, cfg));
    if (cfg.bias ?? true) this.registerParameter('bias', uniform([outChannels], 1 / Math.sqrt(shape[1]! * kernelSize * kernelSize), cfg));
  }

  /** `activation: 'relu'` fuses a following relu (as Sequential does). */
  forward(x: Tensor, activation: Conv2dOptions['activation'] = 'none'): Tensor {
    return conv2d(x, this.own('weight'), {
      bias: this.hasParam('bias') ? this.own('bias') : null, stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups, activation,
    });
  }

  /** Forward FLOPs for an input of spatial size h x w (2 per multiply-add). */
  flops(n: number, h: number, w: number): number {
    const oh = Math.floor((h + 2 * this.padding - this.dilation * (this.kernelSize - 1) - 1) / this.stride) + 1;
    const ow = Math.floor((w + 2 * this.padding - this.dilation * (this.kernelSize - 1) - 1) / this.stride) + 1;
    return 2 * n * this.outChannels * oh * ow * (this.inChannels / this.groups) * this.kernelSize * this.kernelSize;
  }
}
