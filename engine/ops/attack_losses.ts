/**
 * Margin losses of the attack library (METHODS.md §1.1), per example [N] from logits [N, K] and int32 labels
 * (and targets) [N], written with differentiable ops (gather, topk, where) so the tape differentiates them
 * with the sorted positions held fixed, as torch.sort's backward does:
 * - cw_margin (Carlini-Wagner, untargeted): max_{j != y} z_j - z_y; targeted: z_t - max_{j != t} z_j.
 *   Both grow as the attack succeeds.
 * - dlr_targeted (Croce & Hein's targeted DLR, APGD-T): -(z_y - z_t) / (z_(1) - (z_(3) + z_(4)) / 2 + 1e-12),
 *   K >= 4, z_(k) the k-th largest (ties as topk ranks them).
 * A label or target outside [0, K) is reported at the next read (check_labels.wgsl), naming the op.
 */
import { runCheckLabels } from '../../kernels/check_labels.js';
import { defineOp, type AuditCase } from '../op.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { fmt } from '../shape.js';
import type { Tensor } from '../tensor.js';
import * as o from './index.js';

function checkRows(op: string, z: Tensor, labels: Tensor[], minK: number): [number, number] {
  if (z.rank !== 2) throw new RangeError(`${op}: logits must be [N, K], got shape ${fmt(z.shape)}`);
  const [n, k] = z.shape as [number, number];
  if (k < minK) throw new RangeError(`${op}: needs at least ${minK} classes, got logits of shape ${fmt(z.shape)}`);
  for (const l of labels) {
    if (l.rank !== 1 || l.shape[0] !== n) throw new RangeError(`${op}: labels and targets must be [N] = [${n}] to match logits ${fmt(z.shape)}, got ${fmt(l.shape)}`);
  }
  // gather reads an out-of-range class as 0: without this check a bad label would give a wrong loss, silently.
  for (const l of labels) runCheckLabels(z.device, l.storage.binding(), n, k);
  return [n, k];
}

/** z[i, c_i] as [N, 1]. */
const pick = (z: Tensor, c: Tensor): Tensor => o.gather(z, 1, o.reshape(c, [c.shape[0]!, 1]));

/** max_{j != c_i} z_ij as [N, 1]: the top value, or the second where the top is c's own logit. */
function bestOther(z: Tensor, zc: Tensor): Tensor {
  const { values } = o.topk(z, 2);
  const v1 = o.slice(values, 1, 0, 1);
  const v2 = o.slice(values, 1, 1, 2);
  return o.where(o.eq(v1, zc), v2, v1);
}

// ---- float64 references ----

/** Descending order of a row, ties the later position first (as topk). */
const order = (row: number[]) => row.map((_, j) => j).sort((i, j) => row[j]! - row[i]! || j - i);
const rowsOf = (z: RefTensor): number[][] => {
  const [n, k] = z.shape as [number, number];
  return Array.from({ length: n }, (_, r) => Array.from(z.data.subarray(r * k, (r + 1) * k)));
};

/** cw for one row toward (c, sign): sign +1 untargeted (c = y): best other - z_y; -1 targeted (c = t): z_t - best other. */
function cw64(row: number[], c: number, sign: 1 | -1): { loss: number; grad: number[] } {
  const ord = order(row);
  const other = ord[0] === c ? ord[1]! : ord[0]!;
  const grad = new Array<number>(row.length).fill(0);
  grad[other] += sign;
  grad[c] -= sign;
  return { loss: sign * (row[other]! - row[c]!), grad };
}

function dlrT64(row: number[], y: number, t: number): { loss: number; grad: number[] } {
  const [i1, , i3, i4] = order(row);
  const num = row[y]! - row[t]!;
  const den = row[i1!]! - 0.5 * (row[i3!]! + row[i4!]!) + 1e-12;
  const grad = new Array<number>(row.length).fill(0);
  grad[y] -= 1 / den;
  grad[t] += 1 / den;
  const q = num / (den * den);
  grad[i1!] += q;
  grad[i3!] -= 0.5 * q;
  grad[i4!] -= 0.5 * q;
  return { loss: -num / den, grad };
}

function rowLossRef(z: RefTensor, per: (row: number[], r: number) => { loss: number; grad: number[] }, g: RefTensor | null): { loss: RefTensor; gz: RefTensor } {
  const rows = rowsOf(z);
  const loss = ref([rows.length]);
  const gz = ref(z.shape);
  rows.forEach((row, r) => {
    const { loss: l, grad } = per(row, r);
    loss.data[r] = l;
    if (g) grad.forEach((v, j) => { gz.data[r * row.length + j] = g.data[r]! * v; });
  });
  return { loss, gz };
}

// ---- ops ----

export interface CwAttrs { targeted: boolean }

const cwCases = (targeted: boolean): AuditCase<CwAttrs>[] => {
  const shapes = (n: number, k: number) => (targeted ? [[n, k], [n], [n]] : [[n, k], [n]]);
  const gen = (k: number) => (targeted ? ['distinct', `labels:${k}`, `labels:${k}`] : ['distinct', `labels:${k}`]) as AuditCase<CwAttrs>['gen'];
  const t = targeted ? ' targeted' : '';
  return [
    { name: `cw_margin${t} [8,10]`, shapes: shapes(8, 10), attrs: { targeted }, gen: gen(10) },
    { name: `cw_margin${t} [16,2]`, shapes: shapes(16, 2), attrs: { targeted }, gen: gen(2) },
    { name: `cw_margin${t} [1,5]`, shapes: shapes(1, 5), attrs: { targeted }, gen: gen(5) },
    { name: `cw_margin${t} [6,100] x100`, shapes: shapes(6, 100), attrs: { targeted }, gen: gen(100), scale: 100 },
  ];
};

export const cwMarginOp = defineOp<CwAttrs>({
  name: 'cw_margin',
  composite: true,
  inputs: ['logits', 'labels', 'targets?'],
  nondiff: [1, 2],
  int32Inputs: [1, 2],
  forward: ([z, y, t], a) => {
    checkRows('cw_margin', z!, a.targeted ? [y!, t!] : [y!], 2);
    if (a.targeted !== (t !== undefined)) throw new RangeError(`cw_margin: targeted ${a.targeted} needs ${a.targeted ? 'a' : 'no'} targets tensor`);
    const c = a.targeted ? t! : y!;
    const zc = pick(z!, c);
    const other = bestOther(z!, zc);
    return o.reshape(a.targeted ? o.sub(zc, other) : o.sub(other, zc), [z!.shape[0]!]);
  },
  reference: {
    forward: ([z, y, t], a) => rowLossRef(z!, (row, r) => cw64(row, (a.targeted ? t! : y!).data[r]!, a.targeted ? -1 : 1), null).loss,
    backward: ([z, y, t], a, _, g) => [rowLossRef(z!, (row, r) => cw64(row, (a.targeted ? t! : y!).data[r]!, a.targeted ? -1 : 1), g).gz, null, ...(a.targeted ? [null] : [])],
  },
  audit: [...cwCases(false), ...cwCases(true)],
});

export const dlrTargetedOp = defineOp<Record<string, never>>({
  name: 'dlr_targeted',
  composite: true,
  inputs: ['logits', 'labels', 'targets'],
  nondiff: [1, 2],
  int32Inputs: [1, 2],
  forward: ([z, y, t]) => {
    const [n] = checkRows('dlr_targeted', z!, [y!, t!], 4);
    const { values } = o.topk(z!, 4);
    const top = (i: number) => o.slice(values, 1, i, i + 1);
    const den = o.add(o.sub(top(0), o.mul(o.add(top(2), top(3)), 0.5)), 1e-12);
    return o.reshape(o.neg(o.div(o.sub(pick(z!, y!), pick(z!, t!)), den)), [n]);
  },
  reference: {
    forward: ([z, y, t]) => rowLossRef(z!, (row, r) => dlrT64(row, y!.data[r]!, t!.data[r]!), null).loss,
    backward: ([z, y, t], _, __, g) => [rowLossRef(z!, (row, r) => dlrT64(row, y!.data[r]!, t!.data[r]!), g).gz, null, null],
  },
  audit: [
    { name: 'dlr_targeted [8,10]', shapes: [[8, 10], [8], [8]], attrs: {}, gen: ['distinct', 'labels:10', 'labels:10'] },
    { name: 'dlr_targeted [12,4]', shapes: [[12, 4], [12], [12]], attrs: {}, gen: ['distinct', 'labels:4', 'labels:4'] },
    { name: 'dlr_targeted [1,10]', shapes: [[1, 10], [1], [1]], attrs: {}, gen: ['distinct', 'labels:10', 'labels:10'] },
    { name: 'dlr_targeted [4,100] x1000', shapes: [[4, 100], [4], [4]], attrs: {}, gen: ['distinct', 'labels:100', 'labels:100'], scale: 1e3 },
  ],
});

/** Carlini-Wagner margin per example [N]: untargeted max_{j != y} z_j - z_y, or with targets z_t - max_{j != t} z_j. */
export function cwMargin(logits: Tensor, labels: Tensor, targets?: Tensor): Tensor {
  return cwMarginOp(targets ? [logits, labels, targets] : [logits, labels], { targeted: !!targets });
}

/** AutoAttack's targeted DLR per example [N] (K >= 4). */
export function dlrTargeted(logits: Tensor, labels: Tensor, targets: Tensor): Tensor {
  return dlrTargetedOp([logits, labels, targets], {});
}
