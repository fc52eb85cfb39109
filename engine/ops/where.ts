/** where(cond, a, b): a where cond != 0, else b, broadcasting all three; gradients flow to a and b. */
import { defineOp } from '../op.js';
import { empty } from '../create.js';
import { refBroadcast, refSumTo } from '../ref/tensor.js';
import { broadcastShapes, broadcastStrides, sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runWhere } from '../../kernels/elementwise.js';
import * as o from './index.js';
import { registerCaseAdapter } from '../case_adapters.js';

export const whereOp = defineOp<Record<string, never>>({
  name: 'where',
  forward: ([c, a, b]) => {
    const shape = broadcastShapes('where', c!.shape, a!.shape, b!.shape);
    const y = empty(a!.device, shape);
    const contiguous = [c!, a!, b!].every((t) => sameShape(t.shape, shape));
    runWhere(a!.device, c!.storage.binding(), a!.storage.binding(), b!.storage.binding(), y.storage.binding(), shape,
      [broadcastStrides(c!.shape, shape), broadcastStrides(a!.shape, shape), broadcastStrides(b!.shape, shape)], contiguous);
    return y;
  },
  inputs: ['cond', 'a', 'b'],
  save: ['cond'],
  nondiff: [0],
  backward: (g, ctx) => {
    const c = ctx.saved.cond!;
    const z = o.zerosLike(g);
    return [null,
      ctx.needs[1] ? o.sumTo(o.where(c, g, z), ctx.inputShapes[1]!) : null,
      ctx.needs[2] ? o.sumTo(o.where(c, z, g), ctx.inputShapes[2]!) : null];
  },
  reference: {
    forward: ([c, a, b]) => refBroadcast([c!.shape, a!.shape, b!.shape], broadcastShapes('where', c!.shape, a!.shape, b!.shape), (u, v, w) => (u !== 0 ? v : w), c!, a!, b!),
    backward: ([c, a, b], _, y, g) => {
      const shapes = [c!.shape, g.shape];
      return [null,
        refSumTo(refBroadcast(shapes, y.shape, (u, w) => (u !== 0 ? w : 0), c!, g), a!.shape),
        refSumTo(refBroadcast(shapes, y.shape, (u, w) => (u !== 0 ? 0 : w), c!, g), b!.shape)];
    },
  },
  audit: [
    { name: 'where same shape', shapes: [[4, 5], [4, 5], [4, 5]], attrs: {}, gen: ['mask', 'normal', 'normal'] },
    { name: 'where broadcast', shapes: [[3, 1], [3, 4], [4]], attrs: {}, gen: ['mask', 'normal', 'normal'] },
    { name: 'where scalar b', shapes: [[2, 3], [2, 3], []], attrs: {}, gen: ['mask', 'normal', 'normal'] },
  ],
});

registerCaseAdapter('where', (x) => ({ y: whereOp([x.cond!, x.a!, x.b!], {}) }), { inputs: ['cond', 'a', 'b'] });
