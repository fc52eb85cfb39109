/**
 * Variance over axes, two-pass (mean first, then the mean of squared deviations) because the one-pass
 * E[x^2] - E[x]^2 loses everything to cancellation in float32 when the variance is small against the mean.
 * Composite: the tape differentiates through the ops it is written with.
 */
import { defineOp } from '../op.js';
import { ref, refGroups } from '../ref/tensor.js';
import { normAxes, sizeOf } from '../shape.js';
import { reducedShape } from './reduce.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

export interface VarianceAttrs { axes?: number[]; keepDims?: boolean; correction?: number }

export const varianceOp = defineOp<VarianceAttrs>({
  name: 'var',
  composite: true,
  forward: ([x], a) => {
    const axes = normAxes('var', a.axes, x!.rank);
    const n = sizeOf(axes.map((i) => x!.shape[i]!));
    const d = o.sub(x!, o.mean(x!, axes, true));
    return o.scaleShift(o.sum(o.square(d), axes, a.keepDims ?? false), 1 / Math.max(n - (a.correction ?? 1), 0), 0);
  },
  reference: {
    forward: ([x], a) => {
      const axes = normAxes('var', a.axes, x!.shape.length);
      const m = refMoments(x!.shape, x!.data, axes);
      return ref(reducedShape(x!.shape, axes, a.keepDims ?? false), m.map(({ ss, n }) => ss / Math.max(n - (a.correction ?? 1), 0)));
    },
    backward: ([x], a, _, g) => {
      const axes = normAxes('var', a.axes, x!.shape.length);
      const gx = ref(x!.shape);
      refMoments(x!.shape, x!.data, axes).forEach(({ idx, mean, n }, k) => {
        for (const i of idx) gx.data[i] = (g.data[k]! * 2 * (x!.data[i]! - mean)) / Math.max(n - (a.correction ?? 1), 0);
      });
      return [gx];
    },
  },
  audit: [
    { name: 'var [7] all', shapes: [[7]], attrs: {} },
    { name: 'var [3,5] axis 1 biased', shapes: [[3, 5]], attrs: { axes: [1], correction: 0 } },
    { name: 'var [2,3,4] axes 0,2 keep', shapes: [[2, 3, 4]], attrs: { axes: [0, 2], keepDims: true } },
    { name: 'var [2,1000] axis 1', shapes: [[2, 1000]], attrs: { axes: [1] } },
    // Small spread around a large mean: what one-pass variance gets wrong.
    { name: 'var small variance, large mean', shapes: [[4, 64]], attrs: { axes: [1] }, gen: ['positive'], scale: 1e3 },
  ],
});

/** Per output: the input indices, their mean and sum of squared deviations (float64, two-pass). */
function refMoments(shape: number[], data: Float64Array, axes: number[]): { idx: number[]; mean: number; ss: number; n: number }[] {
  return refGroups(shape, axes).map((idx) => {
    const mean = idx.reduce((p, i) => p + data[i]!, 0) / idx.length;
    const ss = idx.reduce((p, i) => p + (data[i]! - mean) ** 2, 0);
    return { idx, mean, ss, n: idx.length };
  });
}

registerCaseAdapter('var', (x, p) => {
  const dims = param.ints(p, 'dims');
  return { y: varianceOp([x.x!], { axes: dims.length ? dims : undefined, keepDims: param.bool(p, 'keepdim'), correction: param.optNum(p, 'correction') ?? 1 }) };
}, { inputs: ['x'] });
