/**
 * Parameter initialisation, PyTorch's defaults and the He-normal variant of WideResNet code. Draws come
 * from a Generator, so a model built with the same seed has the same weights.
 */
import { rand, randn, type Generator } from '../engine/rng.js';
import { getDefaultDevice, type Device } from '../engine/device.js';
import { scope } from '../engine/scope.js';
import { mul } from '../engine/ops/index.js';
import type { Tensor } from '../engine/tensor.js';

export interface InitContext { device?: Device; generator?: Generator }

/** fan_in of a [out, in, ...] weight: in * prod(kernel). */
export function fanIn(shape: readonly number[]): number {
  return shape.slice(1).reduce((p, q) => p * q, 1);
}

/** U(-bound, bound). */
export function uniform(shape: readonly number[], bound: number, ctx: InitContext = {}): Tensor {
  return rand(shape, { low: -bound, high: bound, device: ctx.device ?? getDefaultDevice(), generator: ctx.generator });
}

/**
 * PyTorch's default for Conv2d/Linear weights, kaiming_uniform_(a = sqrt(5)): gain sqrt(2/(1+a^2)) = sqrt(1/3),
 * bound = gain * sqrt(3/fan_in) = 1/sqrt(fan_in). The bias gets U(-1/sqrt(fan_in), 1/sqrt(fan_in)) too.
 */
export function kaimingUniformDefault(shape: readonly number[], ctx: InitContext = {}): Tensor {
  return uniform(shape, 1 / Math.sqrt(fanIn(shape)), ctx);
}

/** N(0, 2/n) with n = kh*kw*out_channels (fan_out), as WideResNet/TRADES code initialises convolutions. */
export function heNormalFanOut(shape: readonly number[], ctx: InitContext = {}): Tensor {
  const n = shape[0]! * shape.slice(2).reduce((p, q) => p * q, 1);
  return scope(() => mul(randn(shape, { device: ctx.device ?? getDefaultDevice(), generator: ctx.generator }), Math.sqrt(2 / n)));
}
