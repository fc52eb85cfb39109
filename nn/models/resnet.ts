/**
 * ResNet-18 for 32x32 inputs (the CIFAR layout of kuangliu/pytorch-cifar used by most adversarial-training
 * code: 3x3 stem, no max-pool, BasicBlocks 64-128-256-512, 4x4 average pool, `linear` head), with
 * state_dict names identical to that PyTorch definition.
 */
import { Module } from '../module.js';
import { Conv2d, BatchNorm2d, Linear, Activation, Sequential, AvgPool2d } from '../layers/index.js';
import { add, flatten } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { inputNormalization, resnet18Stages, type ModelOptions } from './common.js';

class BasicBlock extends Module {
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm2d;
  private readonly shortcut: Sequential;
  private readonly act1: Activation;
  private readonly act2: Activation;

  constructor(inPlanes: number, planes: number, stride: number, o: ModelOptions) {
    super();
    const init = { device: o.device, generator: o.generator };
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false, ...init }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes, init));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false, ...init }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes, init));
    this.shortcut = this.registerModule('shortcut', stride !== 1 || inPlanes !== planes
      ? new Sequential(new Conv2d(inPlanes, planes, 1, { stride, bias: false, ...init }), new BatchNorm2d(planes, init))
      : new Sequential());
    // Activations hold no parameters for most specs; learnable ones get names PyTorch has no counterpart for.
    this.act1 = this.registerModule('act1', new Activation(o.activation ?? 'relu', init));
    this.act2 = this.registerModule('act2', new Activation(o.activation ?? 'relu', init));
  }

  forward(x: Tensor): Tensor {
    const out = this.act1.forward(this.bn1.forward(this.conv1.forward(x)));
    return this.act2.forward(add(this.bn2.forward(this.conv2.forward(out)), this.shortcut.forward(x)));
  }
}

export class ResNet18 extends Module {
  private readonly normalize: (x: Tensor) => Tensor;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly act: Activation;
  private readonly layers: Sequential[];
  private readonly pool = new AvgPool2d(4);
  private readonly linear: Linear;

  /** `width`: channels of the first stage (64 in the standard model; smaller for tests). */
  constructor(o: ModelOptions & { width?: number } = {}) {
    super();
    const w = o.width ?? 64;
    const init = { device: o.device, generator: o.generator };
    this.normalize = this.registerOptional('normalize', inputNormalization(o));
    this.conv1 = this.registerModule('conv1', new Conv2d(3, w, 3, { padding: 1, bias: false, ...init }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(w, init));
    this.act = this.registerModule('act', new Activation(o.activation ?? 'relu', init));
    this.layers = resnet18Stages(w, (i, p, s) => new BasicBlock(i, p, s, o)).map((st, i) => this.registerModule(`layer${i + 1}`, st));
    this.linear = this.registerModule('linear', new Linear(8 * w, o.numClasses ?? 10, init));
  }

  forward(x: Tensor): Tensor {
    let out = this.act.forward(this.bn1.forward(this.conv1.forward(this.normalize(x))));
    for (const l of this.layers) out = l.forward(out);
    return this.linear.forward(flatten(this.pool.forward(out), 1));
  }
}
