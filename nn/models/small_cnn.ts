/**
 * Small CNNs for 28x28 grey images (Fashion-MNIST), the default for CPU runs:
 * - SmallCNN: conv 1->16 3x3, act, max-pool 2, conv 16->32 3x3, act, global average pool, fc 32->10
 *   (the small CNN of the benchmark comparison, cheap enough for lavapipe);
 * - TradesSmallCNN: the SmallCNN of the TRADES MNIST code (conv 32, 32, pool, 64, 64, pool, fc 1024-200-200-10,
 *   dropout 0.5, last layer zero-initialised), with its state_dict names.
 */
import { Module } from '../module.js';
import { Conv2d, Linear, Activation, Sequential, MaxPool2d, GlobalAvgPool2d, Dropout, Flatten } from '../layers/index.js';
import { zeros } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';
import { inputNormalization, type ModelOptions } from './common.js';

export class SmallCNN extends Module {
  private readonly body: Sequential;

  /** `inChannels` (default 1) lets the same network take colour images (the loader bench's CIFAR-shaped data). */
  constructor(o: ModelOptions & { inChannels?: number } = {}) {
    super();
    const init = { device: o.device, generator: o.generator };
    const act = () => new Activation(o.activation ?? 'relu', init);
    const norm = inputNormalization(o);
    this.body = this.registerModule('features', Sequential.named([
      ...(norm ? [['normalize', norm] as [string, Module]] : []),
      ['conv1', new Conv2d(o.inChannels ?? 1, 16, 3, { padding: 1, ...init })], ['act1', act()], ['pool', new MaxPool2d(2)],
      ['conv2', new Conv2d(16, 32, 3, { padding: 1, ...init })], ['act2', act()], ['gap', new GlobalAvgPool2d()],
      ['fc', new Linear(32, o.numClasses ?? 10, init)],
    ]));
  }

  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

/**
 * ConvNet: conv 1->32 3x3, act, max-pool 2, conv 32->64 3x3, act, max-pool 2, fc 64*7*7 -> 128, act, fc -> 10:
 * the usual two-layer CNN of Fashion-MNIST tutorials, which (unlike SmallCNN's global average pool) keeps
 * where features are; the default model of `npm start` and `robustgpu train`.
 */
export class ConvNet extends Module {
  private readonly body: Sequential;

  constructor(o: ModelOptions & { inChannels?: number; width?: number } = {}) {
    super();
    const init = { device: o.device, generator: o.generator };
    const act = () => new Activation(o.activation ?? 'relu', init);
    const norm = inputNormalization(o);
    const w = o.width ?? 32;
    const side = (o.inChannels ?? 1) === 3 ? 8 : 7;
    this.body = this.registerModule('features', Sequential.named([
      ...(norm ? [['normalize', norm] as [string, Module]] : []),
      ['conv1', new Conv2d(o.inChannels ?? 1, w, 3, { padding: 1, ...init })], ['act1', act()], ['pool1', new MaxPool2d(2)],
      ['conv2', new Conv2d(w, 2 * w, 3, { padding: 1, ...init })], ['act2', act()], ['pool2', new MaxPool2d(2)],
      ['flatten', new Flatten(1)], ['fc1', new Linear(2 * w * side * side, 128, init)], ['act3', act()], ['fc2', new Linear(128, o.numClasses ?? 10, init)],
    ]));
  }

  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

export class TradesSmallCNN extends Module {
  private readonly normalize: (x: Tensor) => Tensor;
  private readonly featureExtractor: Sequential;
  private readonly classifier: Sequential;

  constructor(o: ModelOptions & { dropRate?: number } = {}) {
    super();
    const init = { device: o.device, generator: o.generator };
    const act = () => new Activation(o.activation ?? 'relu', init);
    this.normalize = this.registerOptional('normalize', inputNormalization(o));
    this.featureExtractor = this.registerModule('feature_extractor', Sequential.named([
      ['conv1', new Conv2d(1, 32, 3, init)], ['relu1', act()], ['conv2', new Conv2d(32, 32, 3, init)], ['relu2', act()], ['maxpool1', new MaxPool2d(2)],
      ['conv3', new Conv2d(32, 64, 3, init)], ['relu3', act()], ['conv4', new Conv2d(64, 64, 3, init)], ['relu4', act()], ['maxpool2', new MaxPool2d(2)],
    ]));
    this.classifier = this.registerModule('classifier', Sequential.named([
      ['flatten', new Flatten(1)], ['fc1', new Linear(64 * 4 * 4, 200, init)], ['relu1', act()], ['drop', new Dropout(o.dropRate ?? 0.5, o.generator)],
      ['fc2', new Linear(200, 200, init)], ['relu2', act()], ['fc3', new Linear(200, o.numClasses ?? 10, init)],
    ]));
    // The reference zero-initialises the last layer.
    const dev = o.device ?? this.device;
    scope(() => this.loadStateDict(new Map([['classifier.fc3.weight', zeros([o.numClasses ?? 10, 200], { device: dev })], ['classifier.fc3.bias', zeros([o.numClasses ?? 10], { device: dev })]]), { strict: false }));
  }

  forward(x: Tensor): Tensor {
    return this.classifier.forward(this.featureExtractor.forward(this.normalize(x)));
  }
}
