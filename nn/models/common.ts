/** What every model constructor takes: the activation switch, input normalisation and where weights come from. */
import type { Device } from '../../engine/device.js';
import { Normalize } from '../layers/normalize.js';
import { Sequential } from '../layers/sequential.js';
import type { Module } from '../module.js';
import type { Generator } from '../../engine/rng.js';

export interface ModelOptions {
  numClasses?: number;
  /** Activation spec ('relu' default; see nn/layers/activation.ts): swapping it changes nothing else. */
  activation?: string;
  /** Per-channel input normalisation applied as the first layer (attacks stay in [0,1] pixel space). */
  normalize?: { mean: number[]; std: number[] } | null;
  device?: Device;
  generator?: Generator;
}

export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD = [0.2471, 0.2435, 0.2616];

/** The optional first layer that normalises [0,1] pixels, or null. */
export function inputNormalization(o: ModelOptions): Normalize | null {
  return o.normalize ? new Normalize(o.normalize.mean, o.normalize.std, { device: o.device }) : null;
}

/** The four stages of a CIFAR ResNet-18 (widths w, 2w, 4w, 8w; two blocks each; stride 2 from stage 2 on). */
export function resnet18Stages(w: number, block: (inPlanes: number, planes: number, stride: number) => Module): Sequential[] {
  let inPlanes = w;
  return [w, 2 * w, 4 * w, 8 * w].map((planes, i) => {
    const blocks = [block(inPlanes, planes, i === 0 ? 1 : 2), block(planes, planes, 1)];
    inPlanes = planes;
    return new Sequential(...blocks);
  });
}
