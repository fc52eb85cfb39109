/**
 * Reductions over any set of axes: sum, mean, max, min (max/min share the gradient among ties, as
 * torch.amax), and argmax/argmin over one axis (int32, no gradient). sum/mean/max/min reduce each run of
 * adjacent reduced axes in place as the middle axis of [before, run, after], in barrier-free passes (a long
 * run in chunks, then the chunks); argmax/argmin move the axis last by a permuting copy and reduce rows.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, refGroups, type RefTensor } from '../ref/tensor.js';
import { fmt, normAxes, sizeOf, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { planAxisPasses, runReduce, runReduceAxis, type AxisPass, type ReduceKernelOp } from '../../kernels/reduce.js';
import * as o from './index.js';
import { registerCaseAdapter, param, type CaseParams } from '../case_adapters.js';

export interface ReduceAttrs { axes?: number[]; keepDims?: boolean }

/** The output shape, with reduced axes kept as 1 or dropped. */
export function reducedShape(shape: Shape, axes: number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/**
 * The input as alternating runs of kept and reduced axes, each run merged into one size (axes of size 1
 * dropped): reducing a run is then reducing the middle axis of [before, run, after], which needs no permute.
 */
function axisRuns(shape: Shape, axes: number[]): { size: number; reduced: boolean }[] {
  const runs: { size: number; reduced: boolean }[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const reduced = axes.includes(i);
    const last = runs[runs.length - 1];
    if (last && last.reduced === reduced) last.size *= d;
    else runs.push({ size: d, reduced });
  });
  return runs;
}

function reduceForward(op: ReduceKernelOp, x: Tensor, axes: number[], keepDims: boolean, scale = 1): Tensor {
  const len = sizeOf(axes.map((a) => x.shape[a]!));
  if (len === 0 && op !== 'sum') throw new RangeError(`${op}: cannot reduce over an empty axis (shape ${fmt(x.shape)}, axes ${JSON.stringify(axes)})`);
  const y = empty(x.device, reducedShape(x.shape, axes, keepDims), op.startsWith('arg') ? 'int32' : 'float32');
  if (op === 'argmax' || op === 'argmin') {
    // Indices need the reduced axes last, as one row per output (one axis, and these are not hot).
    const kept = [...x.shape.keys()].filter((i) => !axes.includes(i));
    const perm = [...kept, ...axes];
    const src = perm.every((p, i) => p === i) ? x : o.permute(x, perm);
    runReduce(x.device, op, src.storage.binding(), y.storage.binding(), y.size, len, scale);
    if (src !== x) src.dispose();
    return y;
  }
  if (y.size === 0) return y;
  const runs = axisRuns(x.shape, axes);
  // The biggest reduced run goes first, since every pass reads all of what is left. With none (only axes of
  // size 1 reduced) one pass over an axis of 1 copies x into y.
  const passes: AxisPass[] = [];
  const cpu = x.device.info.fallback;
  for (;;) {
    const reduced = runs.filter((r) => r.reduced);
    if (!reduced.length) break;
    const run = reduced.reduce((p, q) => (q.size > p.size ? q : p));
    const k = runs.indexOf(run);
    passes.push(...planAxisPasses(sizeOf(runs.slice(0, k).map((r) => r.size)), run.size, sizeOf(runs.slice(k + 1).map((r) => r.size)), cpu));
    runs.splice(k, 1);
  }
  if (!passes.length) passes.push(...planAxisPasses(1, 1, x.size, cpu));
  let src = x;
  passes.forEach((p, i) => {
    const last = i === passes.length - 1;
    const dst = last ? y : empty(x.device, [p.a * p.c * p.b]);
    runReduceAxis(x.device, op, src.storage.binding(), dst.storage.binding(), p, last ? scale : 1);
    // Recorded work keeps its buffers: the pool hands them out again only to later work.
    if (src !== x) src.dispose();
    src = dst;
  });
  return y;
}

/** Reference reduction: visits each output with the list of input values reduced into it. */
function refReduce(x: RefTensor, axes: number[], keepDims: boolean, f: (vals: number[]) => number): RefTensor {
  const outShape = reducedShape(x.shape, axes, keepDims);
  const groups = refGroups(x.shape, axes);
  return ref(outShape, groups.map((idx) => f(idx.map((i) => x.data[i]!))));
}

function refReduceBackward(x: RefTensor, axes: number[], g: RefTensor, weights: (vals: number[]) => number[]): RefTensor {
  const gx = ref(x.shape);
  refGroups(x.shape, axes).forEach((idx, k) => {
    const w = weights(idx.map((i) => x.data[i]!));
    idx.forEach((i, j) => { gx.data[i] = g.data[k]! * w[j]!; });
  });
  return gx;
}

const REDUCE_SHAPES: [Shape, number[] | undefined, boolean][] = [
  [[7], undefined, false], [[3, 5], [1], false], [[3, 5], [0], true], [[3, 5], [], false], [[2, 3, 4], [0, 2], false],
  [[2, 3, 4], [1], true], [[2, 3, 4], [2], false], [[4, 1, 6], [1], false], [[2, 1000], [1], false], [[1], [0], true],
  // The pass plans (kernels/reduce.ts): NCHW over (0, 2, 3) and (1, 2) on one word per load; over (2, 3) with
  // 4 words of a row per load; 4 adjacent outputs per load; runs K R K R K; and past 65536 words, in chunks:
  // 4 adjacent outputs per load, one word per load, and a long vector (chunks of chunks, of 4 words then 1).
  [[5, 6, 7, 9], [0, 2, 3], false], [[5, 6, 7, 9], [1, 2], false], [[4, 3, 8, 8], [2, 3], true], [[6, 8, 4, 12], [0, 2], false],
  [[2, 3, 4, 5, 6], [1, 3], false], [[4096, 16], [0], false], [[2, 6000, 7], [1], true], [[70000], undefined, false],
];

function reduceCases(name: string, gen: 'normal' | 'distinct'): AuditCase<ReduceAttrs>[] {
  return REDUCE_SHAPES.map(([s, axes, keepDims]) => ({ name: `${name} ${JSON.stringify(s)} axes ${JSON.stringify(axes ?? 'all')}${keepDims ? ' keep' : ''}`, shapes: [s], attrs: { axes, keepDims }, gen: [gen] }));
}

const axesOf = (x: { shape: Shape }, a: ReduceAttrs, op: string) => normAxes(op, a.axes, x.shape.length);
const sumOf = (v: number[]) => v.reduce((p, q) => p + q, 0);

/** The gradient of a reduction broadcast back over the input (g reshaped with the reduced axes kept as 1). */
function spread(g: Tensor, shape: Shape, axes: number[]): Tensor {
  return o.broadcastTo(o.reshape(g, reducedShape(shape, axes, true)), shape);
}

export const sumOp = defineOp<ReduceAttrs>({
  name: 'sum',
  forward: ([x], a) => reduceForward('sum', x!, axesOf(x!, a, 'sum'), a.keepDims ?? false),
  backward: (g, ctx) => [spread(g, ctx.inputShapes[0]!, axesOf({ shape: ctx.inputShapes[0]! }, ctx.attrs, 'sum'))],
  reference: {
    forward: ([x], a) => refReduce(x!, axesOf(x!, a, 'sum'), a.keepDims ?? false, sumOf),
    backward: ([x], a, _, g) => [refReduceBackward(x!, axesOf(x!, a, 'sum'), g, (v) => v.map(() => 1))],
  },
  audit: reduceCases('sum', 'normal'),
});

export const meanOp = defineOp<ReduceAttrs>({
  name: 'mean',
  forward: ([x], a) => {
    const axes = axesOf(x!, a, 'mean');
    return reduceForward('sum', x!, axes, a.keepDims ?? false, 1 / sizeOf(axes.map((i) => x!.shape[i]!)));
  },
  backward: (g, ctx) => {
    const shape = ctx.inputShapes[0]!;
    const axes = axesOf({ shape }, ctx.attrs, 'mean');
    // Scaled before it is spread: the scale then touches one element per output, not one per input.
    return [spread(o.scaleShift(g, 1 / sizeOf(axes.map((i) => shape[i]!)), 0), shape, axes)];
  },
  reference: {
    forward: ([x], a) => refReduce(x!, axesOf(x!, a, 'mean'), a.keepDims ?? false, (v) => sumOf(v) / v.length),
    backward: ([x], a, _, g) => [refReduceBackward(x!, axesOf(x!, a, 'mean'), g, (v) => v.map(() => 1 / v.length))],
  },
  audit: reduceCases('mean', 'normal'),
});

function extremum(name: 'max' | 'min') {
  const pick = name === 'max' ? Math.max : Math.min;
  return defineOp<ReduceAttrs>({
    name,
    forward: ([x], a) => reduceForward(name, x!, axesOf(x!, a, name), a.keepDims ?? false),
    inputs: ['x'],
    save: ['x', 'y'],
    backward: (g, ctx) => {
      const { x, y } = ctx.saved as { x: Tensor; y: Tensor };
      const axes = axesOf(x, ctx.attrs, name);
      const mask = o.eq(x, o.reshape(y, reducedShape(x.shape, axes, true)));
      const count = o.sum(mask, axes, true);
      return [o.div(o.mul(spread(g, x.shape, axes), mask), count)];
    },
    reference: {
      forward: ([x], a) => refReduce(x!, axesOf(x!, a, name), a.keepDims ?? false, (v) => pick(...v)),
      backward: ([x], a, _, g) => [refReduceBackward(x!, axesOf(x!, a, name), g, (v) => {
        const m = pick(...v);
        const n = v.filter((u) => u === m).length;
        return v.map((u) => (u === m ? 1 / n : 0));
      })],
    },
    audit: reduceCases(name, 'distinct'),
  });
}
export const maxOp = extremum('max');
export const minOp = extremum('min');

export interface ArgAttrs { axis: number; keepDims?: boolean }

function argExtremum(name: 'argmax' | 'argmin') {
  const better = name === 'argmax' ? (u: number, v: number) => u > v : (u: number, v: number) => u < v;
  return defineOp<ArgAttrs>({
    name,
    forward: ([x], a) => reduceForward(name, x!, normAxes(name, a.axis, x!.rank), a.keepDims ?? false),
    reference: {
      forward: ([x], a) => refReduce(x!, normAxes(name, a.axis, x!.shape.length), a.keepDims ?? false, (v) => v.reduce((bi, u, i) => (better(u, v[bi]!) ? i : bi), 0)),
    },
    audit: [
      { name: `${name} [3,5] axis 1`, shapes: [[3, 5]], attrs: { axis: 1 }, gen: ['distinct'] },
      { name: `${name} [2,3,4] axis 0 keep`, shapes: [[2, 3, 4]], attrs: { axis: 0, keepDims: true }, gen: ['distinct'] },
      { name: `${name} ties go to the first`, shapes: [[4, 6]], attrs: { axis: 1 }, gen: ['mask'] },
      { name: `${name} [2,700] axis 1`, shapes: [[2, 700]], attrs: { axis: 1 }, gen: ['distinct'] },
    ],
  });
}
export const argmaxOp = argExtremum('argmax');
export const argminOp = argExtremum('argmin');

// Case params: dims (empty = all), keepdim; max/min are torch.amax/amin.
const caseAxes = (p: CaseParams): number[] | undefined => (param.ints(p, 'dims').length ? param.ints(p, 'dims') : undefined);
for (const [name, op] of [['sum', sumOp], ['mean', meanOp], ['max', maxOp], ['min', minOp]] as const) {
  registerCaseAdapter(name, (x, p) => ({ y: op([x.x!], { axes: caseAxes(p), keepDims: param.bool(p, 'keepdim') }) }), { inputs: ['x'] });
}
for (const [name, op] of [['argmax', argmaxOp], ['argmin', argminOp]] as const) {
  registerCaseAdapter(name, (x, p) => ({ y: op([x.x!], { axis: param.num(p, 'dim'), keepDims: param.bool(p, 'keepdim') }) }), { inputs: ['x'] });
}
