/**
 * Variance over axes, two-pass (mean first, then the mean of squared deviations) because the one-pass
 * E[x^2] - E[x]^2 loses everything to cancellation in float32 when the variance is small against the mean.
 * `var` is composite: the tape differentiates through the ops it is written with. `var_mean` (torch.var_mean)
 * returns both moments from one pass over the data as an op with two outputs, each with its own gradient:
 * d/dx = g_var * 2 (x - mean) / (n - correction) + g_mean / n.
 */
import { defineOp } from '../op.js';
import type { Tensor } from '../tensor.js';
import { ref, refGroups, type RefTensor } from '../ref/tensor.js';
import { normAxes, sizeOf } from '../shape.js';
import { reducedShape } from './reduce.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

export interface VarianceAttrs { axes?: number[]; keepDims?: boolean; correction?: number }

const VAR_CASES = [
  { name: 'var [7] all', shapes: [[7]], attrs: {} },
  { name: 'var [3,5] axis 1 biased', shapes: [[3, 5]], attrs: { axes: [1], correction: 0 } },
  { name: 'var [2,3,4] axes 0,2 keep', shapes: [[2, 3, 4]], attrs: { axes: [0, 2], keepDims: true } },
  { name: 'var [2,1000] axis 1', shapes: [[2, 1000]], attrs: { axes: [1] } },
  // Small spread around a large mean: what one-pass variance gets wrong.
  { name: 'var small variance, large mean', shapes: [[4, 64]], attrs: { axes: [1] }, gen: ['positive' as const], scale: 1e3 },
];

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
  audit: VAR_CASES,
});


function varMeanParts(x: Tensor, a: VarianceAttrs): { axes: number[]; n: number; divisor: number } {
  const axes = normAxes('var_mean', a.axes, x.rank);
  const n = sizeOf(axes.map((i) => x.shape[i]!));
  return { axes, n, divisor: Math.max(n - (a.correction ?? 1), 0) };
}

export const varMeanOp = defineOp<VarianceAttrs>({
  name: 'var_mean',
  inputs: ['x'],
  outputs: ['var', 'mean'],
  forward: ([x], a) => {
    const { axes, divisor } = varMeanParts(x!, a);
    const keep = a.keepDims ?? false;
    const m = o.mean(x!, axes, true);
    const v = o.scaleShift(o.sum(o.square(o.sub(x!, m)), axes, keep), 1 / divisor, 0);
    return { outs: { var: v, mean: keep ? m : o.reshape(m, v.shape) }, saved: { center: m } };
  },
  save: ['x', 'center'],
  backward: (g, ctx) => {
    const { x, center } = ctx.saved as { x: Tensor; center: Tensor };
    const { n, divisor } = varMeanParts(x, ctx.attrs);
    const kept = center.shape;
    let gx: Tensor | null = null;
    if (g.var) gx = o.mul(o.sub(x, center), o.reshape(o.scaleShift(g.var, 2 / divisor, 0), kept));
    if (g.mean) {
      const gm = o.broadcastTo(o.reshape(o.scaleShift(g.mean, 1 / n, 0), kept), x.shape);
      gx = gx ? o.add(gx, gm) : gm;
    }
    return [gx];
  },
  reference: {
    forward: ([x], a) => {
      const axes = normAxes('var_mean', a.axes, x!.shape.length);
      const m = refMoments(x!.shape, x!.data, axes);
      const shape = reducedShape(x!.shape, axes, a.keepDims ?? false);
      return { var: ref(shape, m.map(({ ss, n }) => ss / Math.max(n - (a.correction ?? 1), 0))), mean: ref(shape, m.map(({ mean }) => mean)) };
    },
    backward: ([x], a, _, g) => {
      const axes = normAxes('var_mean', a.axes, x!.shape.length);
      const gx = ref(x!.shape);
      const gv = g.var as RefTensor | null;
      const gm = g.mean as RefTensor | null;
      refMoments(x!.shape, x!.data, axes).forEach(({ idx, mean, n }, k) => {
        for (const i of idx) {
          gx.data[i] = (gv ? (gv.data[k]! * 2 * (x!.data[i]! - mean)) / Math.max(n - (a.correction ?? 1), 0) : 0) + (gm ? gm.data[k]! / n : 0);
        }
      });
      return [gx];
    },
  },
  audit: VAR_CASES.map((c) => ({ ...c, name: c.name.replace(/^var /, 'var_mean ') })),
});

/** Variance and mean over `axes` in one op (torch.var_mean; Bessel's correction by default). */
export function varMean(x: Tensor, axes?: number | number[], opts: { keepDims?: boolean; correction?: number } = {}): { var: Tensor; mean: Tensor } {
  const r = varMeanOp([x], { axes: axes === undefined ? undefined : typeof axes === 'number' ? [axes] : axes, keepDims: opts.keepDims ?? false, correction: opts.correction ?? 1 });
  return { var: r.var!, mean: r.mean! };
}

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
