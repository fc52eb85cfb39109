/** Model constructors by name (the CLI's `--model`). */
import { ConvNet, SmallCNN, TradesSmallCNN } from './small_cnn.js';
import { ResNet18 } from './resnet.js';
import { PreActResNet18 } from './preact_resnet.js';
import { WideResNet, type WideResNetOptions } from './wide_resnet.js';
import type { Module } from '../module.js';
import type { ModelOptions } from './common.js';

export { ConvNet, SmallCNN, TradesSmallCNN, ResNet18, PreActResNet18, WideResNet };
export { CIFAR10_MEAN, CIFAR10_STD, type ModelOptions } from './common.js';
export type { WideResNetOptions };

/** Input shape [C, H, W] each model is built for. */
export const MODELS: Record<string, { input: [number, number, number]; build: (o: ModelOptions) => Module }> = {
  smallcnn: { input: [1, 28, 28], build: (o) => new SmallCNN(o) },
  convnet: { input: [1, 28, 28], build: (o) => new ConvNet(o) },
  trades_smallcnn: { input: [1, 28, 28], build: (o) => new TradesSmallCNN(o) },
  resnet18: { input: [3, 32, 32], build: (o) => new ResNet18(o) },
  preact_resnet18: { input: [3, 32, 32], build: (o) => new PreActResNet18(o) },
  'wrn-16-4': { input: [3, 32, 32], build: (o) => new WideResNet({ ...o, depth: 16, widenFactor: 4 }) },
  'wrn-28-10': { input: [3, 32, 32], build: (o) => new WideResNet({ ...o, depth: 28, widenFactor: 10 }) },
  'wrn-34-10': { input: [3, 32, 32], build: (o) => new WideResNet({ ...o, depth: 34, widenFactor: 10 }) },
};

/** Input shape [C, H, W] of the model `name` (a pattern name included). */
export function modelInput(name: string): [number, number, number] {
  return MODELS[name]?.input ?? (/^convnet-\d+$/.test(name) ? [1, 28, 28] : [3, 32, 32]);
}

/** The model names built from a pattern, beside MODELS' fixed ones (for help texts and errors). */
export const MODEL_PATTERNS = 'wrn-DEPTH-WIDTH, convnet-WIDTH, preact_resnet18-WIDTH';

/**
 * Builds a model by name; 'wrn-D-K' works for any valid depth and width, 'convnet-W' and 'preact_resnet18-W'
 * for any first-stage width (a PreAct-18 of width 16 is the bench's lavapipe-sized one).
 */
export function buildModel(name: string, o: ModelOptions = {}): Module {
  const m = MODELS[name];
  if (m) return m.build(o);
  const wrn = /^wrn-(\d+)-(\d+)$/.exec(name);
  if (wrn) return new WideResNet({ ...o, depth: Number(wrn[1]), widenFactor: Number(wrn[2]) });
  const conv = /^convnet-(\d+)$/.exec(name);
  if (conv && Number(conv[1]) >= 1) return new ConvNet({ ...o, width: Number(conv[1]) });
  const preact = /^preact_resnet18-(\d+)$/.exec(name);
  if (preact && Number(preact[1]) >= 1) return new PreActResNet18({ ...o, width: Number(preact[1]) });
  throw new RangeError(`unknown model '${name}'; known: ${Object.keys(MODELS).join(', ')}, ${MODEL_PATTERNS}`);
}
