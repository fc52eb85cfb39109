/**
 * Containers and shape layers: Sequential (children named 0, 1, ... as PyTorch), Flatten, Identity.
 * Sequential fuses a plain relu Activation into its neighbour, with the same values and gradients and without
 * the activation's own passes over the feature map: followed by a MaxPool2d, it becomes the pool's epilogue
 * (max_pool2d_relu: max commutes with relu, and the backward mask then covers the pooled map only); otherwise,
 * right after a Conv2d, the convolution's (conv2d_relu).
 */
import { Module } from '../module.js';
import { flatten } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { Conv2d } from './conv2d.js';
import { Activation } from './activation.js';
import { MaxPool2d } from './pool.js';

/** A plain relu whose forward nobody replaced on the instance (a hook, as nn/summary.ts installs, must see every layer). */
function isRelu(m: Module | undefined): m is Activation {
  return m instanceof Activation && m.spec.name === 'relu' && !Object.hasOwn(m, 'forward');
}

function unhooked<T extends Module>(m: Module | undefined, kind: abstract new (...args: never[]) => T): m is T {
  return m instanceof kind && !Object.hasOwn(m, 'forward');
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
    const l = this.layers;
    for (let i = 0; i < l.length; i++) {
      const m = l[i]!;
      if (isRelu(m) && unhooked(l[i + 1], MaxPool2d)) {
        y = (l[i + 1] as MaxPool2d).forward(y, 'relu');
        i++;
      } else if (unhooked(m, Conv2d) && isRelu(l[i + 1]) && !unhooked(l[i + 2], MaxPool2d)) {
        y = m.forward(y, 'relu');
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
