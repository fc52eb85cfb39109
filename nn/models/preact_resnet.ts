/**
 * PreAct ResNet-18 for 32x32 inputs, the layout of Rice et al.'s robust-overfitting code (kuangliu's
 * PreActBlock plus a final `bn` before pooling), with that definition's state_dict names.
 */
import { Module } from '../module.js';
import { Conv2d, BatchNorm2d, Linear, Activation, Sequential, AvgPool2d } from '../layers/index.js';
import { add, flatten } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { inputNormalization, resnet18Stages, type ModelOptions } from './common.js';

class PreActBlock extends Module {
  private readonly bn1: BatchNorm2d;
  private readonly conv1: Conv2d;
  private readonly bn2: BatchNorm2d;
  private readonly conv2: Conv2d;
  private readonly shortcut: Sequential | null;
  private readonly act1: Activation;
  private readonly act2: Activation;

  constructor(inPlanes: number, planes: number, stride: number, o: ModelOptions) {
    super();
    const init = { device: o.device, generator: o.generator };
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inPlanes, init));
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false, ...init }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes, init));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false, ...init }));
    this.shortcut = stride !== 1 || inPlanes !== planes
      ? this.registerModule('shortcut', new Sequential(new Conv2d(inPlanes, planes, 1, { stride, bias: false, ...init })))
      : null;
    this.act1 = this.registerModule('act1', new Activation(o.activation ?? 'relu', init));
    this.act2 = this.registerModule('act2', new Activation(o.activation ?? 'relu', init));
  }

  forward(x: Tensor): Tensor {
    const out = this.act1.forward(this.bn1.forward(x));
    // The projection shortcut reads the pre-activated input, as in the reference code.
    const short = this.shortcut ? this.shortcut.forward(out) : x;
    const y = this.conv2.forward(this.act2.forward(this.bn2.forward(this.conv1.forward(out))));
    return add(y, short);
  }
}

export class PreActResNet18 extends Module {
  private readonly normalize: (x: Tensor) => Tensor;
  private readonly conv1: Conv2d;
  private readonly layers: Sequential[];
  private readonly bn: BatchNorm2d;
  private readonly act: Activation;
  private readonly pool = new AvgPool2d(4);
  private readonly linear: Linear;

  /** `width`: channels of the first stage (64 in the standard model; smaller for tests). */
  constructor(o: ModelOptions & { width?: number } = {}) {
    super();
    const w = o.width ?? 64;
    const init = { device: o.device, generator: o.generator };
    this.normalize = this.registerOptional('normalize', inputNormalization(o));
    this.conv1 = this.registerModule('conv1', new Conv2d(3, w, 3, { padding: 1, bias: false, ...init }));
    this.layers = resnet18Stages(w, (i, p, s) => new PreActBlock(i, p, s, o)).map((st, i) => this.registerModule(`layer${i + 1}`, st));
    this.bn = this.registerModule('bn', new BatchNorm2d(8 * w, init));
    this.act = this.registerModule('act', new Activation(o.activation ?? 'relu', init));
    this.linear = this.registerModule('linear', new Linear(8 * w, o.numClasses ?? 10, init));
  }

  forward(x: Tensor): Tensor {
    let out = this.conv1.forward(this.normalize(x));
    for (const l of this.layers) out = l.forward(out);
    out = this.act.forward(this.bn.forward(out));
    return this.linear.forward(flatten(this.pool.forward(out), 1));
  }
}
