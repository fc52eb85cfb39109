/**
 * WideResNet-depth-k in the TRADES / RobustBench layout (conv1, block1-3 of `layer.i` BasicBlocks with
 * `convShortcut` where the width changes, final bn1 + relu, 8x8 average pool, `fc`), with that code's
 * state_dict names and initialisation (He-normal fan-out convolutions, BN weight 1 / bias 0, fc bias 0).
 */
import { Module } from '../module.js';
import { Conv2d, BatchNorm2d, Linear, Activation, Sequential, Dropout, GlobalAvgPool2d } from '../layers/index.js';
import { add } from '../../engine/ops/index.js';
import { zeros } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import { heNormalFanOut } from '../init.js';
import type { Tensor } from '../../engine/tensor.js';
import { inputNormalization, type ModelOptions } from './common.js';

export interface WideResNetOptions extends ModelOptions { depth?: number; widenFactor?: number; dropRate?: number }

class WideBasicBlock extends Module {
  private readonly bn1: BatchNorm2d;
  private readonly conv1: Conv2d;
  private readonly bn2: BatchNorm2d;
  private readonly conv2: Conv2d;
  private readonly convShortcut: Conv2d | null;
  private readonly act1: Activation;
  private readonly act2: Activation;
  private readonly drop: Dropout;
  private readonly equalInOut: boolean;

  constructor(inPlanes: number, outPlanes: number, stride: number, o: WideResNetOptions) {
    super();
    const init = { device: o.device, generator: o.generator };
    this.equalInOut = inPlanes === outPlanes;
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inPlanes, init));
    this.act1 = this.registerModule('relu1', new Activation(o.activation ?? 'relu', init));
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false, ...init }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outPlanes, init));
    this.act2 = this.registerModule('relu2', new Activation(o.activation ?? 'relu', init));
    this.conv2 = this.registerModule('conv2', new Conv2d(outPlanes, outPlanes, 3, { padding: 1, bias: false, ...init }));
    this.convShortcut = this.equalInOut ? null : this.registerModule('convShortcut', new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false, ...init }));
    // Registered so that train()/eval() reach it; it has no tensors, so state_dict names are unchanged.
    this.drop = this.registerModule('dropout', new Dropout(o.dropRate ?? 0, o.generator));
  }

  forward(x: Tensor): Tensor {
    // As the reference: when the width changes, the shortcut reads the pre-activated input.
    const pre = this.act1.forward(this.bn1.forward(x));
    const mid = this.act2.forward(this.bn2.forward(this.conv1.forward(pre)));
    const out = this.conv2.forward(this.drop.forward(mid));
    return add(this.equalInOut ? x : this.convShortcut!.forward(pre), out);
  }
}

export class WideResNet extends Module {
  readonly depth: number;
  readonly widenFactor: number;
  private readonly normalize: (x: Tensor) => Tensor;
  private readonly conv1: Conv2d;
  private readonly blocks: Sequential[];
  private readonly bn1: BatchNorm2d;
  private readonly act: Activation;
  private readonly pool = new GlobalAvgPool2d();
  private readonly fc: Linear;

  constructor(o: WideResNetOptions = {}) {
    super();
    this.depth = o.depth ?? 28;
    this.widenFactor = o.widenFactor ?? 10;
    if ((this.depth - 4) % 6 !== 0) throw new RangeError(`WideResNet: depth must be 6n+4 (16, 22, 28, 34, ...), got ${this.depth}`);
    const n = (this.depth - 4) / 6;
    const k = this.widenFactor;
    const ch = [16, 16 * k, 32 * k, 64 * k];
    const init = { device: o.device, generator: o.generator };
    this.normalize = this.registerOptional('normalize', inputNormalization(o));
    this.conv1 = this.registerModule('conv1', new Conv2d(3, ch[0]!, 3, { padding: 1, bias: false, ...init }));
    this.blocks = [1, 2, 3].map((b) => {
      const layers = Array.from({ length: n }, (_, i) => new WideBasicBlock(i === 0 ? ch[b - 1]! : ch[b]!, ch[b]!, i === 0 && b > 1 ? 2 : 1, o));
      // NetworkBlock wraps its blocks in `layer`, hence block1.layer.0.conv1.weight.
      const holder = new NetworkBlock(new Sequential(...layers));
      return this.registerModule(`block${b}`, holder).layer;
    });
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(ch[3]!, init));
    this.act = this.registerModule('relu', new Activation(o.activation ?? 'relu', init));
    this.fc = this.registerModule('fc', new Linear(ch[3]!, o.numClasses ?? 10, init));
    this.initWeights(o);
  }

  /** The reference initialisation: He-normal (fan-out) convolutions and a zero fc bias. */
  private initWeights(o: WideResNetOptions): void {
    scope(() => {
      const fresh = new Map<string, Tensor>();
      for (const [name, t] of this.namedParameters()) {
        if (t.rank === 4) fresh.set(name, heNormalFanOut(t.shape, { device: o.device ?? t.device, generator: o.generator }));
        else if (name === 'fc.bias') fresh.set(name, zeros(t.shape, { device: t.device }));
      }
      this.loadStateDict(fresh, { strict: false });
    });
  }

  forward(x: Tensor): Tensor {
    let out = this.conv1.forward(this.normalize(x));
    for (const b of this.blocks) out = b.forward(out);
    return this.fc.forward(this.pool.forward(this.act.forward(this.bn1.forward(out))));
  }
}

class NetworkBlock extends Module {
  constructor(readonly layer: Sequential) {
    super();
    this.registerModule('layer', layer);
  }
  forward(x: Tensor): Tensor {
    return this.layer.forward(x);
  }
}
