/** What every model constructor takes: the activation switch, input normalisation and where weights come from. */
import type { Device } from '../../engine/device.js';
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
