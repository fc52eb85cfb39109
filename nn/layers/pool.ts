/** Pooling layers over the pooling ops (PyTorch semantics and defaults: stride = kernel size). */
import { Module } from '../module.js';
import { maxPool2d, avgPool2d, adaptiveAvgPool2d, globalAvgPool2d } from '../../engine/ops/pool.js';
import type { Tensor } from '../../engine/tensor.js';

export interface PoolConfig { stride?: number; padding?: number; ceilMode?: boolean }

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: number, readonly cfg: PoolConfig & { dilation?: number } = {}) {
    super();
  }
  /** `activation: 'relu'` applies a preceding relu in the same op (max commutes with relu; Sequential does it). */
  forward(x: Tensor, activation: 'none' | 'relu' = 'none'): Tensor {
    return maxPool2d(x, { kernelSize: this.kernelSize, ...this.cfg, activation });
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: number, readonly cfg: PoolConfig & { countIncludePad?: boolean } = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, { kernelSize: this.kernelSize, ...this.cfg });
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: [number, number]) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** [N, C, H, W] -> [N, C]. */
export class GlobalAvgPool2d extends Module {
  forward(x: Tensor): Tensor {
    return globalAvgPool2d(x);
  }
}
