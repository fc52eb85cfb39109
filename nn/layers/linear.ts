/** y = x W^T + b, PyTorch's Linear (weight [out, in]) with its default initialisation. */
import { Module } from '../module.js';
import { add, matmul } from '../../engine/ops/index.js';
import { kaimingUniformDefault, uniform, type InitContext } from '../init.js';
import type { Tensor } from '../../engine/tensor.js';

export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } & InitContext = {}) {
    super();
    this.registerParameter('weight', kaimingUniformDefault([outFeatures, inFeatures], opts));
    if (opts.bias ?? true) this.registerParameter('bias', uniform([outFeatures], 1 / Math.sqrt(inFeatures), opts));
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.inFeatures) throw new RangeError(`Linear(${this.inFeatures}, ${this.outFeatures}): input has ${x.shape[x.rank - 1]} features (shape [${x.shape}])`);
    const y = matmul(x, this.own('weight'), { transB: true });
    return this.hasParam('bias') ? add(y, this.own('bias')) : y;
  }
}
