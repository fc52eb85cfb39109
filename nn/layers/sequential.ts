/** Containers and shape layers: Sequential (children named 0, 1, ... as PyTorch), Flatten, Identity. */
import { Module } from '../module.js';
import { flatten } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';

export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  /** A Sequential whose children have names (PyTorch's Sequential(OrderedDict(...))). */
  static named(entries: [string, Module][]): Sequential {
    const s = new NamedSequential(entries);
    return s;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

class NamedSequential extends Sequential {
  constructor(entries: [string, Module][]) {
    super();
    for (const [n, m] of entries) {
      this.registerModule(n, m);
      this.layers.push(m);
    }
  }
}
