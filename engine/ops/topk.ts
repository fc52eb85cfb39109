/**
 * topk along the last axis (torch.topk(x, k, dim=-1), sorted): the k largest values of each row in
 * descending order and their int32 positions, NaN above every number and ties ranked the later position
 * first: the last k entries of a stable ascending sort read backwards, which is how AutoAttack picks its
 * target classes (`x.sort(dim=1)[1][:, -t]`) and what the DLR kernel assumes. Two outputs: `values` carries gradients (scattered back to the chosen positions,
 * the order held fixed, as torch.sort's backward), `indices` none. AutoAttack's targeted attacks pick their
 * target classes from it, and DLR-type losses read the sorted logits.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { fmt } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runTopk, runTopkBackward } from '../../kernels/topk.js';

export interface TopkAttrs { k: number }

function rowsOf(op: string, shape: readonly number[], k: number): { rows: number; len: number } {
  if (shape.length < 1) throw new RangeError(`${op}: x needs at least one dimension, got shape ${fmt(shape)}`);
  const len = shape[shape.length - 1]!;
  if (!Number.isInteger(k) || k < 0 || k > len) throw new RangeError(`${op}: k must be an integer in [0, ${len}] (the last dimension of x ${fmt(shape)}), got ${k}`);
  return { rows: len === 0 ? 0 : shape.reduce((p, q) => p * q, 1) / len, len };
}

/** Float64: one row's descending order (NaN first, then by value, ties the later position first). */
function order64(row: number[]): number[] {
  const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
  return row.map((_, j) => j).sort((i, j) => {
    const [a, b] = [row[i]!, row[j]!];
    if (Number.isNaN(a) !== Number.isNaN(b)) return Number.isNaN(a) ? -1 : 1;
    return key(b) - key(a) || j - i;
  });
}

function refTopk(x: RefTensor, k: number): { values: RefTensor; indices: RefTensor } {
  const { rows, len } = rowsOf('topk (reference)', x.shape, k);
  const outShape = [...x.shape.slice(0, -1), k];
  const values = ref(outShape);
  const indices = ref(outShape);
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.data.subarray(r * len, (r + 1) * len));
    order64(row).slice(0, k).forEach((j, t) => { values.data[r * k + t] = row[j]!; indices.data[r * k + t] = j; });
  }
  return { values, indices };
}

const cases = (): AuditCase<TopkAttrs>[] => [
  { name: 'topk [4,10] k 3', shapes: [[4, 10]], attrs: { k: 3 }, gen: ['distinct'] },
  { name: 'topk [5,10] k 10 (a full sort)', shapes: [[5, 10]], attrs: { k: 10 }, gen: ['distinct'] },
  { name: 'topk [1,7] k 1', shapes: [[1, 7]], attrs: { k: 1 }, gen: ['distinct'] },
  { name: 'topk [2,3,5] k 4 (rank 3)', shapes: [[2, 3, 5]], attrs: { k: 4 }, gen: ['distinct'] },
  { name: 'topk [6] k 2 (rank 1)', shapes: [[6]], attrs: { k: 2 }, gen: ['distinct'] },
  { name: 'topk [3,300] k 9 (long rows)', shapes: [[3, 300]], attrs: { k: 9 }, gen: ['distinct'] },
  { name: 'topk [2,4] k 0', shapes: [[2, 4]], attrs: { k: 0 } },
  {
    name: 'topk ties rank the later position first', shapes: [[2, 5]], attrs: { k: 4 },
    values: [[1, 3, 3, -2, 3, 0, 0, 0, 0, 0]], skipFiniteDiff: 'tied values: the order is one of several valid ones',
  },
];

export const topkOp = defineOp<TopkAttrs>({
  name: 'topk',
  inputs: ['x'],
  outputs: ['values', 'indices'],
  nondiffOutputs: ['indices'],
  forward: ([x], a) => {
    const { rows, len } = rowsOf('topk', x!.shape, a.k);
    const shape = [...x!.shape.slice(0, -1), a.k];
    const values = empty(x!.device, shape);
    const indices = empty(x!.device, shape, 'int32');
    runTopk(x!.device, x!.storage.binding(), values.storage.binding(), indices.storage.binding(), rows, len, a.k);
    return { outs: { values, indices } };
  },
  save: ['indices'],
  backward: (g, ctx) => {
    if (!g.values) return [null];
    const shape = ctx.inputShapes[0]!;
    const { rows, len } = rowsOf('topk', shape, ctx.attrs.k);
    const gx = empty(g.values.device, shape);
    runTopkBackward(gx.device, g.values.storage.binding(), ctx.saved.indices!.storage.binding(), gx.storage.binding(), rows, len, ctx.attrs.k);
    return [gx];
  },
  reference: {
    forward: ([x], a) => refTopk(x!, a.k),
    backward: ([x], a, outs, g) => {
      const gx = ref(x!.shape);
      const gv = g.values;
      if (gv) outs.indices!.data.forEach((j, e) => { const r = Math.floor(e / Math.max(a.k, 1)); gx.data[r * x!.shape[x!.shape.length - 1]! + j] += gv.data[e]!; });
      return [gx];
    },
  },
  audit: cases(),
});

/** The k largest entries along the last axis, sorted descending, and their int32 positions. */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  const r = topkOp([x], { k });
  return { values: r.values!, indices: r.indices! };
}

/** Positions that sort each row (last axis) in descending order, int32 (ties: the later position first). */
export function argsortDescending(x: Tensor): Tensor {
  const { values, indices } = topk(x, x.shape[x.rank - 1] ?? 0);
  values.dispose();
  return indices;
}
