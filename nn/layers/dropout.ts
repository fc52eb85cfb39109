/** Dropout active in training mode only (seeded through the generator). */
import { Module } from '../module.js';
import { dropout } from '../../engine/ops/dropout.js';
import type { Generator } from '../../engine/rng.js';
import type { Tensor } from '../../engine/tensor.js';

export class Dropout extends Module {
  constructor(readonly p = 0.5, private readonly generator?: Generator) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? dropout(x, { p: this.p, training: true, generator: this.generator }) : x;
  }
}
