/**
 * Dropout (seeded): each element is kept with probability 1 - p and scaled by 1 / (1 - p) (inverted dropout,
 * as PyTorch), so the expectation is unchanged and evaluation needs no rescaling. The keep mask is drawn
 * with the Philox generator (engine/rng.ts), so a run is reproducible from its seed; it is an input of the
 * registered op 'dropout' (dropoutMasked), which saves it so the backward drops the same elements.
 */
import { defineOp, type OpFn } from '../op.js';
import { empty } from '../create.js';
import { refMap } from '../ref/tensor.js';
import { rand, type Generator } from '../rng.js';
import { scope } from '../scope.js';
import { noGrad } from '../tape.js';
import { fmt, sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runDropout } from '../../kernels/dropout.js';
import * as o from './index.js';

export interface DropoutMaskedAttrs {
  /** The drop probability the mask was drawn with (sets the scale 1 / (1 - p)). */
  p: number;
}

export interface DropoutOptions {
  /** Probability of zeroing an element (default 0.5, as torch.nn.Dropout). */
  p?: number;
  /** Off (evaluation), dropout is the identity (default true, as torch.nn.functional.dropout). */
  training?: boolean;
  /** Where the mask comes from (default: the default generator). */
  generator?: Generator;
}

function checkP(what: string, p: number): void {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new RangeError(`${what}: p is the drop probability and must be in [0, 1], got ${p}`);
}

/** PyTorch zeroes everything at p = 1 instead of scaling by 1/0. */
const scaleOf = (p: number): number => (p === 1 ? 0 : 1 / (1 - p));

const dropoutOp: OpFn<DropoutMaskedAttrs> = defineOp<DropoutMaskedAttrs>({
  name: 'dropout',
  forward: ([x, mask], a) => {
    checkP('dropoutMasked', a.p);
    if (!sameShape(mask!.shape, x!.shape)) throw new RangeError(`dropoutMasked: mask has shape ${fmt(mask!.shape)}, expected x's shape ${fmt(x!.shape)}`);
    const y = empty(x!.device, x!.shape);
    runDropout(x!.device, x!.storage.binding(), mask!.storage.binding(), y.storage.binding(), y.size, scaleOf(a.p));
    return y;
  },
  inputs: ['x', 'mask'],
  save: ['mask'],
  nondiff: [1],
  // The same elements are dropped and the survivors scaled alike: the backward is the op itself on g.
  backward: (g, ctx) => [ctx.needs[0] ? dropoutOp([g, ctx.saved.mask!], ctx.attrs) : null, null],
  reference: {
    forward: ([x, m], a) => refMap(x!, (v, i) => v * m!.data[i]! * scaleOf(a.p)),
    backward: ([x, m], a, _, g) => [refMap(x!, (_v, i) => g.data[i]! * m!.data[i]! * scaleOf(a.p)), null],
  },
  audit: [
    { name: 'dropout p 0.5 [7]', shapes: [[7], [7]], attrs: { p: 0.5 }, gen: ['normal', 'mask'] },
    { name: 'dropout p 0.2 [3,5]', shapes: [[3, 5], [3, 5]], attrs: { p: 0.2 }, gen: ['normal', 'mask'] },
    { name: 'dropout p 0.9 [2,3,4]', shapes: [[2, 3, 4], [2, 3, 4]], attrs: { p: 0.9 }, gen: ['normal', 'mask'] },
    { name: 'dropout p 0.3 [1]', shapes: [[1], [1]], attrs: { p: 0.3 }, gen: ['normal', 'mask'] },
    { name: 'dropout p 0.3 [257]', shapes: [[257], [257]], attrs: { p: 0.3 }, gen: ['normal', 'mask'] },
    { name: 'dropout p 0 (all kept, scale 1) [4,5]', shapes: [[4, 5], [4, 5]], attrs: { p: 0 }, gen: ['normal', 'mask'] },
    { name: 'dropout p 1 (all zero) [4,5]', shapes: [[4, 5], [4, 5]], attrs: { p: 1 }, gen: ['normal', 'mask'] },
    { name: 'dropout p 0.5 x1e3 [5,3]', shapes: [[5, 3], [5, 3]], attrs: { p: 0.5 }, gen: ['normal', 'mask'], scale: 1e3 },
  ],
});

/** x * mask / (1 - p) for a given 0/1 keep mask of x's shape (no gradient to the mask). */
export function dropoutMasked(x: Tensor, mask: Tensor, opts: DropoutMaskedAttrs): Tensor {
  return dropoutOp([x, mask], { p: opts.p });
}

/**
 * Zeroes each element with probability p (mask drawn from `generator`) and scales the rest by 1 / (1 - p).
 * With training off or p = 0 it returns x itself, as PyTorch.
 */
export function dropout(x: Tensor, opts: DropoutOptions = {}): Tensor {
  const p = opts.p ?? 0.5;
  checkP('dropout', p);
  x.assertLive('dropout');
  if (!(opts.training ?? true) || p === 0) return x;
  return scope(() => {
    // Kept where u < 1 - p, u uniform in [0, 1): probability 1 - p, as bernoulli_(1 - p).
    const mask = noGrad(() => o.lt(rand(x.shape, { device: x.device, generator: opts.generator }), 1 - p));
    return dropoutOp([x, mask], { p });
  });
}
