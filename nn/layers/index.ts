export { Linear } from './linear.js';
export { Conv2d, type Conv2dConfig } from './conv2d.js';
export { BatchNorm2d } from './batch_norm.js';
export { Dropout } from './dropout.js';
export { Activation, parseActivation, swapActivations, type ActivationSpec } from './activation.js';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, type PoolConfig } from './pool.js';
export { Sequential, Flatten, Identity } from './sequential.js';
export { Normalize } from './normalize.js';
