/**
 * Containers and shape layers: Sequential (children named 0, 1, ... as PyTorch), Flatten, Identity.
 * Sequential runs a Conv2d directly followed by a plain relu Activation as one fused conv2d_relu op: the same
 * values and gradients, without the activation's own pass over the feature map forward and backward.
 */
import { Module } from '../module.js';
import { flatten } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { Conv2d } from './conv2d.js';
import { Activation } from './activation.js';

/** Whether m and next run as conv2d_relu. Not when either forward was replaced on the instance (a hook, as nn/summary.ts installs: it must see both layers). */
function fusesWithRelu(m: Module, next: Module | undefined): next is Activation {
  return m instanceof Conv2d && next instanceof Activation && next.spec.name === 'relu'
    && !Object.hasOwn(m, 'forward') && !Object.hasOwn(next, 'forward');
}

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
    for (let i = 0; i < this.layers.length; i++) {
      const m = this.layers[i]!;
      if (fusesWithRelu(m, this.layers[i + 1])) {
        y = (m as Conv2d).forward(y, 'relu');
        i++;
      } else {
        y = m.forward(y);
      }
    }
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
