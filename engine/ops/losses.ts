/**
 * Softmax, log-softmax and the losses of adversarial training, each one fused row kernel:
 * - cross_entropy (PyTorch's, with label smoothing): max-subtracted log-sum-exp per row; the backward
 *   kernel recomputes each row's max and sum and writes g (softmax - target) in the same pass, so nothing
 *   N x K is kept between forward and backward (one extra read of the logits instead);
 * - trades_kl: sum_i KL(softmax(nat_i) || softmax(adv_i)), gradients to both (METHODS.md 3.2);
 * - dlr / redlr: per-example DLR and ReDLR (METHODS.md 1.1), sorted positions held fixed in the gradient.
 * Labels are int32 tensors of class indices (the case runner turns int64 files into int32).
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, refGroups, type RefTensor } from '../ref/tensor.js';
import { fmt, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runSoftmax } from '../../kernels/softmax.js';
import { runCrossEntropyGrad, runCrossEntropyLoss } from '../../kernels/cross_entropy.js';
import { runTradesKl, runTradesKlGrad } from '../../kernels/kl.js';
import { runMargin } from '../../kernels/margin.js';
import * as o from './index.js';
import { registerCaseAdapter, param, type CaseParams } from '../case_adapters.js';

// ---- argument checks (shared by forwards, so every entry point validates) ----

function normDim(op: string, dim: number, rank: number): number {
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) throw new RangeError(`${op}: dim must be an integer in [${-rank}, ${rank - 1}] for a rank-${rank} input, got ${dim}`);
  return dim < 0 ? dim + rank : dim;
}

/** [N, K] logits with int32 labels [N] and K >= minK. */
function checkLogitsLabels(op: string, logits: { shape: Shape }, labels: { shape: Shape }, minK: number): [number, number] {
  if (logits.shape.length !== 2) throw new RangeError(`${op}: logits must be [N, K], got shape ${fmt(logits.shape)}`);
  const [n, k] = logits.shape as [number, number];
  if (k < minK) throw new RangeError(`${op}: needs at least ${minK} classes, got logits of shape ${fmt(logits.shape)}`);
  if (labels.shape.length !== 1 || labels.shape[0] !== n) throw new RangeError(`${op}: labels must be [N] = [${n}] to match logits ${fmt(logits.shape)}, got shape ${fmt(labels.shape)}`);
  return [n, k];
}

// ---- float64 reference helpers ----

/** Per row of `dim`: the flat indices, in order along dim. */
const rowsOf = (shape: Shape, dim: number): number[][] => refGroups(shape, [dim]);

function logSoftmax64(v: number[]): number[] {
  const m = Math.max(...v);
  const lse = m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
  return v.map((x) => x - lse);
}

function refRows(z: RefTensor): number[][] {
  const k = z.shape[1]!;
  return Array.from({ length: z.shape[0]! }, (_, r) => Array.from(z.data.subarray(r * k, (r + 1) * k)));
}

// ---- softmax / log_softmax ----

export interface SoftmaxAttrs { dim: number }

function softmaxFamily(name: 'softmax' | 'log_softmax') {
  const isLog = name === 'log_softmax';
  const layout = (shape: Shape, dim: number) => {
    const d = normDim(name, dim, shape.length);
    const len = shape[d]!;
    const inner = shape.slice(d + 1).reduce((p, q) => p * q, 1);
    const rows = shape.reduce((p, q) => p * q, 1) / Math.max(len, 1);
    return { d, len, inner, rows: len === 0 ? 0 : rows };
  };
  const cases: AuditCase<SoftmaxAttrs>[] = [
    { name: `${name} [4,10] dim 1`, shapes: [[4, 10]], attrs: { dim: 1 } },
    { name: `${name} [1,3]`, shapes: [[1, 3]], attrs: { dim: 1 } },
    { name: `${name} [3,40] (row teams of 8)`, shapes: [[3, 40]], attrs: { dim: 1 } },
    { name: `${name} [2,300] (row teams of 64)`, shapes: [[2, 300]], attrs: { dim: 1 } },
    { name: `${name} [2,3,4] dim 1 (strided rows)`, shapes: [[2, 3, 4]], attrs: { dim: 1 } },
    { name: `${name} [2,3,4] dim 0`, shapes: [[2, 3, 4]], attrs: { dim: 0 } },
    { name: `${name} [2,3,4] dim -1`, shapes: [[2, 3, 4]], attrs: { dim: -1 } },
    { name: `${name} [5] dim 0`, shapes: [[5]], attrs: { dim: 0 } },
    { name: `${name} [4,10] x100`, shapes: [[4, 10]], attrs: { dim: 1 }, scale: 100 },
    { name: `${name} [4,10] x1000`, shapes: [[4, 10]], attrs: { dim: 1 }, scale: 1e3 },
  ];
  return defineOp<SoftmaxAttrs>({
    name,
    forward: ([x], a) => {
      const l = layout(x!.shape, a.dim);
      const y = empty(x!.device, x!.shape);
      runSoftmax(x!.device, isLog ? 'log_softmax' : 'softmax', x!.storage.binding(), x!.storage.binding(), y.storage.binding(), l.rows, l.len, l.inner);
      return y;
    },
    save: ['y'],
    backward: (g, ctx) => {
      const y = ctx.saved.y!;
      const l = layout(y.shape, ctx.attrs.dim);
      const gx = empty(y.device, y.shape);
      runSoftmax(y.device, isLog ? 'log_softmax_backward' : 'softmax_backward', y.storage.binding(), g.storage.binding(), gx.storage.binding(), l.rows, l.len, l.inner);
      return [gx];
    },
    reference: {
      forward: ([x], a) => {
        const out = ref(x!.shape);
        for (const idx of rowsOf(x!.shape, normDim(name, a.dim, x!.shape.length))) {
          const ls = logSoftmax64(idx.map((i) => x!.data[i]!));
          idx.forEach((i, j) => { out.data[i] = isLog ? ls[j]! : Math.exp(ls[j]!); });
        }
        return out;
      },
      backward: ([x], a, y, g) => {
        const gx = ref(x!.shape);
        for (const idx of rowsOf(x!.shape, normDim(name, a.dim, x!.shape.length))) {
          if (isLog) {
            const sg = idx.reduce((s, i) => s + g.data[i]!, 0);
            for (const i of idx) gx.data[i] = g.data[i]! - Math.exp(y.data[i]!) * sg;
          } else {
            const dot = idx.reduce((s, i) => s + g.data[i]! * y.data[i]!, 0);
            for (const i of idx) gx.data[i] = y.data[i]! * (g.data[i]! - dot);
          }
        }
        return [gx];
      },
    },
    audit: cases,
  });
}

export const softmaxOp = softmaxFamily('softmax');
export const logSoftmaxOp = softmaxFamily('log_softmax');

/** softmax along `dim` (default 1, the class dim of [N, K] logits); any rank and dim. */
export const softmax = (x: Tensor, dim = 1): Tensor => softmaxOp([x], { dim });
/** log_softmax along `dim` (default 1), computed as (x - max) - log sum e^(x - max). */
export const logSoftmax = (x: Tensor, dim = 1): Tensor => logSoftmaxOp([x], { dim });

// ---- cross_entropy ----

export type CrossEntropyReduction = 'mean' | 'sum' | 'none';
export interface CrossEntropyAttrs { reduction?: CrossEntropyReduction; labelSmoothing?: number }

function ceAttrs(a: CrossEntropyAttrs): { reduction: CrossEntropyReduction; ls: number } {
  const reduction = a.reduction ?? 'mean';
  if (!['mean', 'sum', 'none'].includes(reduction)) throw new RangeError(`cross_entropy: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  const ls = a.labelSmoothing ?? 0;
  if (typeof ls !== 'number' || !(ls >= 0 && ls <= 1)) throw new RangeError(`cross_entropy: labelSmoothing must be in [0, 1], got ${String(ls)}`);
  return { reduction, ls };
}

function ceCases(): AuditCase<CrossEntropyAttrs>[] {
  const c = (name: string, n: number, k: number, attrs: CrossEntropyAttrs, scale?: number): AuditCase<CrossEntropyAttrs> =>
    ({ name: `cross_entropy ${name} [${n},${k}] ${JSON.stringify(attrs)}`, shapes: [[n, k], [n]], attrs, gen: ['normal', `labels:${k}`], scale });
  return [
    c('K=10', 8, 10, { reduction: 'mean' }), c('K=10', 8, 10, { reduction: 'sum' }), c('K=10', 8, 10, { reduction: 'none' }),
    c('smoothing', 8, 10, { reduction: 'mean', labelSmoothing: 0.1 }), c('smoothing', 8, 10, { reduction: 'none', labelSmoothing: 0.1 }),
    c('K=3', 5, 3, { reduction: 'mean' }), c('N=1', 1, 10, { reduction: 'mean' }), c('N=1 K=3', 1, 3, { reduction: 'sum', labelSmoothing: 0.1 }),
    c('large logits x100', 6, 10, { reduction: 'mean' }, 100), c('large logits x1000', 6, 10, { reduction: 'none' }, 1e3),
    c('large logits x1000 smoothing', 6, 10, { reduction: 'sum', labelSmoothing: 0.1 }, 1e3),
    c('row teams of 8', 3, 40, { reduction: 'mean', labelSmoothing: 0.1 }), c('row teams of 64', 2, 300, { reduction: 'none' }),
  ];
}

export const crossEntropyOp = defineOp<CrossEntropyAttrs>({
  name: 'cross_entropy',
  nondiff: [1],
  int32Inputs: [1],
  forward: ([z, labels], a) => {
    const [n, k] = checkLogitsLabels('cross_entropy', z!, labels!, 1);
    const { reduction, ls } = ceAttrs(a);
    const rows = empty(z!.device, [n]);
    runCrossEntropyLoss(z!.device, z!.storage.binding(), labels!.storage.binding(), rows.storage.binding(), { rows: n, len: k, smoothing: ls });
    return reduction === 'none' ? rows : reduction === 'sum' ? o.sum(rows) : o.mean(rows);
  },
  inputs: ['logits', 'labels'],
  save: ['logits', 'labels'],
  backward: (g, ctx) => {
    const { logits: z, labels } = ctx.saved as { logits: Tensor; labels: Tensor };
    const [n, k] = z.shape as [number, number];
    const { reduction, ls } = ceAttrs(ctx.attrs);
    const gz = empty(z.device, z.shape);
    runCrossEntropyGrad(z.device, z.storage.binding(), labels.storage.binding(), g.storage.binding(), gz.storage.binding(),
      { rows: n, len: k, smoothing: ls, gscale: reduction === 'mean' ? 1 / n : 1, perRow: reduction === 'none' });
    return [gz, null];
  },
  reference: {
    forward: ([z, labels], a) => {
      const { reduction, ls } = ceAttrs(a);
      const losses = refRows(z!).map((row, r) => {
        const lp = logSoftmax64(row);
        const nll = -lp[labels!.data[r]!]!;
        const smooth = -lp.reduce((s, v) => s + v, 0) / row.length;
        return (1 - ls) * nll + ls * smooth;
      });
      const total = losses.reduce((s, v) => s + v, 0);
      return reduction === 'none' ? ref([losses.length], losses) : ref([], [reduction === 'sum' ? total : total / losses.length]);
    },
    backward: ([z, labels], a, _, g) => {
      const { reduction, ls } = ceAttrs(a);
      const n = z!.shape[0]!;
      const gz = ref(z!.shape);
      refRows(z!).forEach((row, r) => {
        const gr = reduction === 'none' ? g.data[r]! : reduction === 'sum' ? g.data[0]! : g.data[0]! / n;
        logSoftmax64(row).forEach((lp, j) => {
          const t = (j === labels!.data[r] ? 1 - ls : 0) + ls / row.length;
          gz.data[r * row.length + j] = gr * (Math.exp(lp) - t);
        });
      });
      return [gz, null];
    },
  },
  audit: ceCases(),
});

/**
 * PyTorch's cross_entropy for logits [N, K] and int32 class labels [N]: reduction 'mean' (default), 'sum' or
 * 'none' ([N]); labelSmoothing ls mixes the target as (1 - ls) onehot + ls / K. A label outside [0, K) makes
 * its row NaN and the next read throw a RangeCheckError naming it (PyTorch raises at the call).
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: { reduction?: CrossEntropyReduction; labelSmoothing?: number } = {}): Tensor {
  return crossEntropyOp([logits, labels], { reduction: opts.reduction ?? 'mean', labelSmoothing: opts.labelSmoothing ?? 0 });
}

// ---- trades_kl ----

export interface TradesKlAttrs { reduction?: 'sum' | 'none'; divideByBatch?: boolean }

function klAttrs(a: TradesKlAttrs): { reduction: 'sum' | 'none'; divide: boolean } {
  const reduction = a.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'none') throw new RangeError(`trades_kl: reduction must be 'sum' or 'none', got '${String(reduction)}'`);
  return { reduction, divide: !!a.divideByBatch };
}

function checkKl(adv: { shape: Shape }, nat: { shape: Shape }): [number, number] {
  if (adv.shape.length !== 2) throw new RangeError(`trades_kl: logitsAdv must be [N, K], got shape ${fmt(adv.shape)}`);
  if (nat.shape.length !== 2 || nat.shape[0] !== adv.shape[0] || nat.shape[1] !== adv.shape[1]) {
    throw new RangeError(`trades_kl: logitsNat must have logitsAdv's shape ${fmt(adv.shape)}, got ${fmt(nat.shape)}`);
  }
  return adv.shape as [number, number];
}

function klCases(): AuditCase<TradesKlAttrs>[] {
  const c = (name: string, n: number, k: number, attrs: TradesKlAttrs, scale?: number): AuditCase<TradesKlAttrs> =>
    ({ name: `trades_kl ${name} [${n},${k}] ${JSON.stringify(attrs)}`, shapes: [[n, k], [n, k]], attrs, scale });
  return [
    c('K=10', 8, 10, { reduction: 'sum' }), c('K=10', 8, 10, { reduction: 'none' }),
    c('K=10 batchmean', 8, 10, { reduction: 'sum', divideByBatch: true }), c('K=10', 8, 10, { reduction: 'none', divideByBatch: true }),
    c('K=3', 5, 3, { reduction: 'sum' }), c('N=1', 1, 10, { reduction: 'sum' }),
    c('large logits x100', 6, 10, { reduction: 'sum' }, 100), c('large logits x1000', 6, 10, { reduction: 'none' }, 1e3),
    c('row teams of 8', 3, 40, { reduction: 'sum', divideByBatch: true }), c('row teams of 64', 2, 300, { reduction: 'none' }),
  ];
}

export const tradesKlOp = defineOp<TradesKlAttrs>({
  name: 'trades_kl',
  forward: ([za, zn], a) => {
    const [n, k] = checkKl(za!, zn!);
    const { reduction, divide } = klAttrs(a);
    const rows = empty(za!.device, [n]);
    const spare = empty(za!.device, [1]);
    runTradesKl(za!.device, za!.storage.binding(), zn!.storage.binding(), rows.storage.binding(), spare.storage.binding(), n, k);
    if (reduction === 'sum') return divide ? o.mean(rows) : o.sum(rows);
    return divide ? o.scaleShift(rows, 1 / n, 0) : rows;
  },
  inputs: ['logits_adv', 'logits_nat'],
  save: ['logits_adv', 'logits_nat'],
  backward: (g, ctx) => {
    const { logits_adv: za, logits_nat: zn } = ctx.saved as { logits_adv: Tensor; logits_nat: Tensor };
    const [n, k] = za.shape as [number, number];
    const { reduction, divide } = klAttrs(ctx.attrs);
    const ga = ctx.needs[0] ? empty(za.device, za.shape) : null;
    const gn = ctx.needs[1] ? empty(za.device, za.shape) : null;
    const spare = empty(za.device, [1]);
    runTradesKlGrad(za.device, za.storage.binding(), zn.storage.binding(), g.storage.binding(),
      { ga: ga?.storage.binding() ?? null, gn: gn?.storage.binding() ?? null, spare: spare.storage.binding() },
      { rows: n, len: k, gscale: divide ? 1 / n : 1, perRow: reduction === 'none' });
    return [ga, gn];
  },
  reference: {
    forward: ([za, zn], a) => {
      const { reduction, divide } = klAttrs(a);
      const adv = refRows(za!);
      const kls = refRows(zn!).map((row, r) => {
        const lp = logSoftmax64(row);
        const lq = logSoftmax64(adv[r]!);
        return lp.reduce((s, v, j) => s + Math.exp(v) * (v - lq[j]!), 0);
      });
      const scale = divide ? 1 / kls.length : 1;
      return reduction === 'none' ? ref([kls.length], kls.map((v) => v * scale)) : ref([], [kls.reduce((s, v) => s + v, 0) * scale]);
    },
    backward: ([za, zn], a, _, g) => {
      const { reduction, divide } = klAttrs(a);
      const n = za!.shape[0]!;
      const k = za!.shape[1]!;
      const ga = ref(za!.shape);
      const gn = ref(zn!.shape);
      const adv = refRows(za!);
      refRows(zn!).forEach((row, r) => {
        const gr = (reduction === 'none' ? g.data[r]! : g.data[0]!) * (divide ? 1 / n : 1);
        const lp = logSoftmax64(row);
        const lq = logSoftmax64(adv[r]!);
        const kl = lp.reduce((s, v, j) => s + Math.exp(v) * (v - lq[j]!), 0);
        for (let j = 0; j < k; j++) {
          const p = Math.exp(lp[j]!);
          ga.data[r * k + j] = gr * (Math.exp(lq[j]!) - p);
          gn.data[r * k + j] = gr * p * (lp[j]! - lq[j]! - kl);
        }
      });
      return [ga, gn];
    },
  },
  audit: klCases(),
  // d/d nat = p_j (l_j - KL) subtracts log-ratios as large as the logits (hundreds in the x100 case): in float32
  // their rounding (ulp(256) = 3e-5) bounds the error, about what one ulp of change in the inputs does, so
  // the default atol (1e-5) is exceeded there by up to ~2x while the float64 reference sees exact inputs.
  tolerance: { atol: 1e-4 },
});

/**
 * TRADES' regulariser sum_i KL(softmax(logitsNat_i) || softmax(logitsAdv_i)) (the clean distribution is the
 * target, and is not detached: both inputs get gradients). reduction 'none' gives the per-example KLs [N];
 * divideByBatch divides by N (TRADES' outer loss; the inner attack uses the plain sum).
 */
export function tradesKl(logitsAdv: Tensor, logitsNat: Tensor, opts: { reduction?: 'sum' | 'none'; divideByBatch?: boolean } = {}): Tensor {
  return tradesKlOp([logitsAdv, logitsNat], { reduction: opts.reduction ?? 'sum', divideByBatch: opts.divideByBatch ?? false });
}

// ---- dlr / redlr ----

/**
 * Float64 (Re)DLR of one row: sorted positions from a stable ascending sort (ties: the larger index ranks
 * higher), then the loss and its gradient with those positions held fixed.
 */
function dlr64(row: number[], y: number, re: boolean): { loss: number; grad: number[] } {
  const order = row.map((_, j) => j).sort((i, j) => row[i]! - row[j]! || i - j);
  const k = row.length;
  const [i1, i2, i3] = [order[k - 1]!, order[k - 2]!, order[k - 3]!];
  const grad = new Array<number>(k).fill(0);
  if (re && i1 !== y) return { loss: 0, grad };
  const io = i1 === y ? i2 : i1;
  const num = row[y]! - row[io]!;
  const den = row[i1]! - row[i3]! + 1e-12;
  grad[y] -= 1 / den;
  grad[io] += 1 / den;
  grad[i1] += num / (den * den);
  grad[i3] -= num / (den * den);
  return { loss: -num / den, grad };
}

function marginOp(name: 'dlr' | 'redlr') {
  const re = name === 'redlr';
  const c = (label: string, n: number, k: number, scale?: number): AuditCase<Record<string, never>> =>
    ({ name: `${name} ${label} [${n},${k}]`, shapes: [[n, k], [n]], attrs: {}, gen: ['distinct', `labels:${k}`], scale });
  return defineOp<Record<string, never>>({
    name,
    nondiff: [1],
    int32Inputs: [1],
    forward: ([z, labels]) => {
      const [n, k] = checkLogitsLabels(name, z!, labels!, 3);
      const y = empty(z!.device, [n]);
      runMargin(z!.device, 'loss', re, z!.storage.binding(), labels!.storage.binding(), z!.storage.binding(), y.storage.binding(), n, k);
      return y;
    },
    inputs: ['logits', 'labels'],
    save: ['logits', 'labels'],
    backward: (g, ctx) => {
      const { logits: z, labels } = ctx.saved as { logits: Tensor; labels: Tensor };
      const [n, k] = z.shape as [number, number];
      const gz = empty(z.device, z.shape);
      runMargin(z.device, 'grad', re, z.storage.binding(), labels.storage.binding(), g.storage.binding(), gz.storage.binding(), n, k);
      return [gz, null];
    },
    reference: {
      forward: ([z, labels]) => ref([z!.shape[0]!], refRows(z!).map((row, r) => dlr64(row, labels!.data[r]!, re).loss)),
      backward: ([z, labels], _, __, g) => {
        const gz = ref(z!.shape);
        refRows(z!).forEach((row, r) => dlr64(row, labels!.data[r]!, re).grad.forEach((v, j) => { gz.data[r * row.length + j] = g.data[r]! * v; }));
        return [gz, null];
      },
    },
    // 'distinct' logits: no ties, so no finite-difference step reorders a row. K = 3 and 4 with many rows give
    // ReDLR correctly classified rows to differentiate.
    audit: [
      c('K=10', 8, 10), c('K=3', 16, 3), c('K=4', 12, 4), c('N=1', 1, 10),
      c('large logits x100', 12, 4, 100), c('large logits x1000', 12, 4, 1e3), c('K=300', 2, 300),
    ],
  });
}

export const dlrOp = marginOp('dlr');
export const redlrOp = marginOp('redlr');

/**
 * Per-example DLR loss [N] (Croce & Hein 2020) of logits [N, K >= 3] and int32 labels [N]:
 * -(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12). Ties in the sort rank the larger index higher. A label
 * outside [0, K) makes its row NaN and the next read throw (as for crossEntropy).
 */
export const dlr = (logits: Tensor, labels: Tensor): Tensor => dlrOp([logits, labels], {});
/** Per-example ReDLR [N] (Bai et al. 2023): DLR on correctly classified rows, 0 (and zero gradient) elsewhere. */
export const redlr = (logits: Tensor, labels: Tensor): Tensor => redlrOp([logits, labels], {});

// ---- reference-case adapters (REFERENCE_CASES.md; dlr and redlr are this project's) ----

const str = <T extends string>(p: CaseParams, k: string, allowed: readonly T[], fallback: T): T => {
  const v = p[k] ?? fallback;
  if (!allowed.includes(v as T)) throw new TypeError(`params.${k}: expected one of ${allowed.map((s) => JSON.stringify(s)).join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
};

registerCaseAdapter('cross_entropy', (x, p) => {
  const k = param.optNum(p, 'num_classes');
  if (k !== null && x.logits!.shape[1] !== k) throw new RangeError(`params.num_classes is ${k} but logits have shape ${fmt(x.logits!.shape)}`);
  return { loss: crossEntropy(x.logits!, x.labels!, { reduction: str(p, 'reduction', ['mean', 'sum', 'none'] as const, 'mean'), labelSmoothing: param.optNum(p, 'label_smoothing') ?? 0 }) };
}, { inputs: ['logits', 'labels'] });
registerCaseAdapter('softmax', (x, p) => ({ y: softmax(x.x!, param.optNum(p, 'dim') ?? 1) }), { inputs: ['x'] });
registerCaseAdapter('log_softmax', (x, p) => ({ y: logSoftmax(x.x!, param.optNum(p, 'dim') ?? 1) }), { inputs: ['x'] });
registerCaseAdapter('trades_kl', (x, p) => ({
  loss: tradesKl(x.logits_adv!, x.logits_nat!, { reduction: str(p, 'reduction', ['sum', 'none'] as const, 'sum'), divideByBatch: param.bool(p, 'divide_by_batch') }),
}), { inputs: ['logits_adv', 'logits_nat'] });
registerCaseAdapter('dlr', (x) => ({ loss: dlr(x.logits!, x.labels!) }), { inputs: ['logits', 'labels'] });
registerCaseAdapter('redlr', (x) => ({ loss: redlr(x.logits!, x.labels!) }), { inputs: ['logits', 'labels'] });
