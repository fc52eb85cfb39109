/**
 * weighted_sum: y = sum_k a_k * t_k for K tensors t_k of one shape and a float32 coefficient tensor a of shape
 * [K], differentiable in a and in every t_k (the learned soup assembles every parameter this way, training
 * only a). One dispatch while K fits one pass of kernels/weighted_sum.wgsl (6 tensors: the output, a and six
 * tensors fill WebGPU's minimum of 8 storage buffers per shader stage); larger K chains passes, each adding
 * into the previous partial result.
 *
 * The sum is a left fold in k ascending, ((a_0 t_0 + a_1 t_1) + a_2 t_2) + ..., however K is split. A
 * coefficient of exactly 0 (either sign) drops its term instead of adding 0 * t_k: one-hot coefficients
 * return the chosen tensor bit for bit (its -0s included), the interpolation [1 - t, t] gives its endpoints
 * exactly at t = 0 and 1, and an ingredient holding inf or NaN does not poison a sum that weighs it 0
 * (PyTorch's 0 * inf would be NaN there). With all coefficients 0 the result is +0. The gradient of a dropped
 * t_k is 0, as the output does not depend on it; d/da_k = sum(g * t_k) for every k.
 *
 * Backward: d/da is K dot products in ceil(K/6) passes of weighted_sum_dot.wgsl (workgroup partial sums) plus,
 * for tensors above 4096 elements, one reduce over the workgroups; each wanted d/dt_k is one a_k * g
 * dispatch. Frozen ingredients (ctx.needs false) cost nothing.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty, zeros } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { fmt, sameShape, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { dotGroups, runWeightedSum, runWeightedSumDot, runWeightedSumScale } from '../../kernels/weighted_sum.js';

function storageLimit(t: Tensor): number {
  return t.device.info.limits.maxStorageBuffersPerShaderStage ?? 8;
}

function checkShapes(inputs: readonly { shape: Shape }[]): void {
  const [a, ...ts] = inputs;
  if (!a || ts.length === 0) throw new RangeError('weightedSum: needs a coefficient tensor and at least one tensor to sum');
  if (a.shape.length !== 1 || a.shape[0] !== ts.length) {
    throw new RangeError(`weightedSum: a has shape ${fmt(a.shape)}, expected [${ts.length}] (one coefficient per tensor)`);
  }
  ts.forEach((t, k) => {
    if (!sameShape(t.shape, ts[0]!.shape)) throw new RangeError(`weightedSum: ts[${k}] has shape ${fmt(t.shape)}, expected ts[0]'s shape ${fmt(ts[0]!.shape)}`);
  });
}

/** The float64 fold with the kernel's rule: zero coefficients drop their term. */
function refForward([a, ...ts]: RefTensor[]): RefTensor {
  const y = ref(ts[0]!.shape);
  const n = y.data.length;
  let started = false;
  ts.forEach((t, k) => {
    const c = a!.data[k]!;
    if (c === 0) return;
    for (let i = 0; i < n; i++) y.data[i] = started ? y.data[i]! + c * t.data[i]! : c * t.data[i]!;
    started = true;
  });
  return y;
}

function refBackward([a, ...ts]: RefTensor[], _attrs: unknown, _out: RefTensor, g: RefTensor): RefTensor[] {
  const da = ref([ts.length], ts.map((t) => t.data.reduce((s, v, i) => s + v * g.data[i]!, 0)));
  return [da, ...ts.map((t, k) => {
    const c = a!.data[k]!;
    return ref(t.shape, Array.from(g.data, (v) => (c === 0 ? 0 : c * v)));
  })];
}

/** A case of K tensors of `shape`; `a` gives the coefficients exactly where drawn ones would not do. */
function sumCase(name: string, K: number, shape: Shape, extra: Partial<AuditCase<Record<string, never>>> & { a?: number[] } = {}): AuditCase<Record<string, never>> {
  const { a, ...rest } = extra;
  return { name, shapes: [[K], ...Array.from({ length: K }, () => shape)], attrs: {}, ...(a ? { values: [a] } : {}), ...rest };
}

const weightedSumOp = defineOp<Record<string, never>>({
  name: 'weighted_sum',
  forward: (inputs) => {
    checkShapes(inputs);
    const [a, ...ts] = inputs as [Tensor, ...Tensor[]];
    const y = empty(a.device, ts[0]!.shape);
    runWeightedSum(a.device, y.storage.binding(), a.storage.binding(), ts.map((t) => t.storage.binding()), y.size, storageLimit(a));
    return y;
  },
  inputs: ['a', '...t'],
  save: ['a', '...t'],
  backward: (g, ctx) => {
    const a = ctx.saved.a!;
    const ts = Array.from({ length: ctx.inputShapes.length - 1 }, (_, k) => ctx.saved[`t${k}`]!);
    const n = g.size;
    let da: Tensor | null = null;
    if (ctx.needs[0]) {
      da = n === 0 ? zeros([ts.length], { device: g.device }) : empty(g.device, [ts.length]);
      if (n > 0) {
        const { groups } = dotGroups(n);
        const scratch = groups > 1 ? empty(g.device, [ts.length, groups]) : null;
        runWeightedSumDot(g.device, g.storage.binding(), ts.map((t) => t.storage.binding()), da.storage.binding(), scratch?.storage.binding() ?? null, n, storageLimit(g));
      }
    }
    return [da, ...ts.map((_, k) => {
      if (!ctx.needs[k + 1]) return null;
      const dt = empty(g.device, g.shape);
      runWeightedSumScale(g.device, g.storage.binding(), a.storage.binding(), dt.storage.binding(), n, k);
      return dt;
    })];
  },
  reference: { forward: refForward, backward: refBackward },
  audit: [
    sumCase('weighted_sum K=1 [7]', 1, [7]),
    sumCase('weighted_sum K=2 [3,5]', 2, [3, 5]),
    sumCase('weighted_sum K=3 [2,3,4]', 3, [2, 3, 4]),
    sumCase('weighted_sum K=3 size 1 [1]', 3, [1]),
    sumCase('weighted_sum K=3 rank 0 []', 3, []),
    sumCase('weighted_sum K=3 rank 4 [2,1,3,3]', 3, [2, 1, 3, 3]),
    sumCase('weighted_sum K=3 one-hot [5,3]', 3, [5, 3], { a: [0, 1, 0] }),
    sumCase('weighted_sum K=3 large [9]', 3, [9], { scale: 1e3 }),
    sumCase('weighted_sum K=3 small [9]', 3, [9], { scale: 1e-3 }),
    sumCase('weighted_sum K=6 [5,5] (one full pass)', 6, [5, 5]),
    sumCase('weighted_sum K=8 [4,3,5] (two passes)', 8, [4, 3, 5]),
    // The first pass's coefficients all 0: the second starts the fold afresh.
    sumCase('weighted_sum K=8 first pass all zero [13]', 8, [13], { a: [0, 0, -0, 0, 0, 0, 0.5, -1.25] }),
    sumCase('weighted_sum K=9 [1,1,1,1]', 9, [1, 1, 1, 1]),
    // d/da over two workgroups (4096 elements each), the second holding one element, then the reduce.
    sumCase('weighted_sum K=7 [4097] (two passes, two workgroups)', 7, [4097]),
    sumCase('weighted_sum K=20 [11] (four passes)', 20, [11]),
    sumCase('weighted_sum K=20 [2,3,1,2]', 20, [2, 3, 1, 2]),
  ],
});

/**
 * sum_k a[k] * ts[k] (a: float32 [K], ts: K float32 tensors of one shape), folded in k ascending; a
 * coefficient of 0 drops its tensor (see the header). Gradients flow to a and to every ts[k].
 */
export function weightedSum(a: Tensor, ts: readonly Tensor[]): Tensor {
  [a, ...ts].forEach((t, i) => {
    if (t.dtype !== 'float32') throw new TypeError(`weightedSum: ${i === 0 ? 'a' : `ts[${i - 1}]`} must be float32, got ${t.dtype} (tensor #${t.id})`);
  });
  checkShapes([a, ...ts]);
  return weightedSumOp([a, ...ts], {});
}
