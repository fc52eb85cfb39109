/**
 * Batched matmul with optional transposes: a [..., M, K] ([..., K, M] when transA), b [..., K, N]
 * ([..., N, K] when transB) -> [..., M, N]. Batch dims broadcast; a side whose batch is 1 is read with
 * stride 0 rather than copied. The backward is two more matmuls with the transposes arranged so that no
 * operand is ever transposed in memory.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, refSumTo, type RefTensor } from '../ref/tensor.js';
import { broadcastShapes, fmt, sizeOf, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runMatmul } from '../../kernels/matmul.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';
import { halfOperands } from '../precision.js';

export interface MatmulAttrs { transA?: boolean; transB?: boolean }

interface Plan { M: number; K: number; N: number; batch: number[]; out: number[] }

function plan(a: Shape, b: Shape, t: MatmulAttrs): Plan {
  if (a.length < 2 || b.length < 2) throw new RangeError(`matmul: operands need rank >= 2, got ${fmt(a)} and ${fmt(b)}`);
  const [M, K] = t.transA ? [a[a.length - 1]!, a[a.length - 2]!] : [a[a.length - 2]!, a[a.length - 1]!];
  const [K2, N] = t.transB ? [b[b.length - 1]!, b[b.length - 2]!] : [b[b.length - 2]!, b[b.length - 1]!];
  if (K !== K2) throw new RangeError(`matmul: inner dimensions differ: a ${fmt(a)}${t.transA ? ' (transposed)' : ''} has K=${K}, b ${fmt(b)}${t.transB ? ' (transposed)' : ''} has K=${K2}`);
  const batch = broadcastShapes('matmul', a.slice(0, -2), b.slice(0, -2));
  return { M, K, N, batch, out: [...batch, M, N] };
}

/** Brings an operand to the full batch unless its batch is a single matrix (then stride 0 reads it). */
function batchOperand(x: Tensor, batch: number[]): { t: Tensor; stride: number } {
  const mat = x.shape.slice(-2);
  if (sizeOf(x.shape.slice(0, -2)) === 1) return { t: x, stride: 0 };
  const full = [...batch, ...mat];
  return { t: full.length === x.rank && full.every((d, i) => d === x.shape[i]) ? x : o.broadcastTo(x, full), stride: sizeOf(mat) };
}

/** What the backward reads of an operand: the input itself (an alias), or the f16 copy the kernel read. */
const saved = (input: Tensor, read: Tensor, half: boolean): Tensor => (!half || read.dtype === 'float16' ? input.alias() : o.halfOperand(read));

export const matmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  // float16 operands come from the backward of a mixed-precision matmul (its saved copies); engine/precision.ts
  halfInputs: true,
  forward: ([a, b], attrs) => {
    const p = plan(a!.shape, b!.shape, attrs);
    const half = halfOperands() || a!.dtype === 'float16' || b!.dtype === 'float16';
    const y = empty(a!.device, p.out);
    const A = batchOperand(a!, p.batch);
    const B = batchOperand(b!, p.batch);
    const batch = sizeOf(p.batch);
    const as = saved(a!, A.t, half);
    const bs = saved(b!, B.t, half);
    if (p.K === 0) return { out: o.zeros(p.out, { device: a!.device }), saved: { as, bs } };
    // under mixed precision the saved copies are what the kernel reads
    const [ar, br] = half ? [as, bs] : [A.t, B.t];
    runMatmul(a!.device, ar.storage.binding(), br.storage.binding(), y.storage.binding(), {
      M: p.M, N: p.N, K: p.K, batch, aStride: A.stride, bStride: B.stride, transA: !!attrs.transA, transB: !!attrs.transB, half,
    });
    return { out: y, saved: { as, bs } };
  },
  inputs: ['a', 'b'],
  save: ['as', 'bs'],
  backward: (g, ctx) => {
    // as / bs: the inputs, or under mixed precision the f16 copies the forward read (broadcast to the batch)
    const { as: a, bs: b } = ctx.saved as { as: Tensor; bs: Tensor };
    const [aShape, bShape] = ctx.inputShapes as [Shape, Shape];
    const tA = !!ctx.attrs.transA;
    const tB = !!ctx.attrs.transB;
    const ga = ctx.needs[0] ? (tA ? o.matmul(b, g, { transA: tB, transB: true }) : o.matmul(g, b, { transB: !tB })) : null;
    const gb = ctx.needs[1] ? (tB ? o.matmul(g, a, { transA: true, transB: tA }) : o.matmul(a, g, { transA: !tA })) : null;
    return [ga && o.sumTo(ga, aShape), gb && o.sumTo(gb, bShape)];
  },
  reference: {
    forward: ([a, b], t) => refMatmul(a!, b!, t),
    backward: ([a, b], t, _, g) => {
      // d/dA of sum(g * op(A) op(B)) = g op(B)^T, mapped back through op(A); likewise for B.
      const tA = !!t.transA;
      const tB = !!t.transB;
      const ga = tA ? refMatmul(b!, g, { transA: tB, transB: true }) : refMatmul(g, b!, { transB: !tB });
      const gb = tB ? refMatmul(g, a!, { transA: true, transB: tA }) : refMatmul(a!, g, { transA: !tA });
      return [refSumTo(ga, a!.shape), refSumTo(gb, b!.shape)];
    },
  },
  audit: matmulCases(),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  // f16 operands (2^-11 relative rounding each) with f32 accumulation, against the float64 reference
  mixedPrecision: { tolerance: { atol: 5e-3, rtol: 5e-3 } },
});

function refMatmul(a: RefTensor, b: RefTensor, t: MatmulAttrs): RefTensor {
  const p = plan(a.shape, b.shape, t);
  const y = ref(p.out);
  const nb = sizeOf(p.batch);
  const aBatch = sizeOf(a.shape.slice(0, -2));
  const bBatch = sizeOf(b.shape.slice(0, -2));
  const bcast = (shape: Shape, z: number) => {
    // index of batch z within an operand whose batch dims broadcast to p.batch
    const bs = shape.slice(0, -2);
    let rest = z;
    let idx = 0;
    let mul = 1;
    for (let d = p.batch.length - 1; d >= 0; d--) {
      const c = rest % p.batch[d]!;
      rest = Math.floor(rest / p.batch[d]!);
      const k = d - (p.batch.length - bs.length);
      if (k >= 0) { if (bs[k] !== 1) idx += c * mul; mul *= bs[k]!; }
    }
    return idx;
  };
  for (let z = 0; z < nb; z++) {
    const ao = (aBatch === 1 ? 0 : bcast(a.shape, z)) * p.M * p.K;
    const bo = (bBatch === 1 ? 0 : bcast(b.shape, z)) * p.K * p.N;
    for (let i = 0; i < p.M; i++) {
      for (let j = 0; j < p.N; j++) {
        let s = 0;
        for (let k = 0; k < p.K; k++) {
          const av = a.data[ao + (t.transA ? k * p.M + i : i * p.K + k)]!;
          const bv = b.data[bo + (t.transB ? j * p.K + k : k * p.N + j)]!;
          s += av * bv;
        }
        y.data[z * p.M * p.N + i * p.N + j] = s;
      }
    }
  }
  return y;
}

function matmulCases(): AuditCase<MatmulAttrs>[] {
  const out: AuditCase<MatmulAttrs>[] = [];
  const sizes: [number, number, number][] = [[5, 7, 3], [33, 17, 9], [1, 1, 1], [1, 40, 65], [64, 64, 64]];
  for (const [M, K, N] of sizes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        out.push({ name: `matmul ${M}x${K}x${N}${transA ? ' tA' : ''}${transB ? ' tB' : ''}`, shapes: [transA ? [K, M] : [M, K], transB ? [N, K] : [K, N]], attrs: { transA, transB } });
      }
    }
  }
  out.push({ name: 'matmul batched [3,5,7]x[3,7,4]', shapes: [[3, 5, 7], [3, 7, 4]], attrs: {} });
  out.push({ name: 'matmul shared b [3,5,7]x[7,4]', shapes: [[3, 5, 7], [7, 4]], attrs: {} });
  out.push({ name: 'matmul broadcast batch [2,1,4,3]x[3,3,2] tB', shapes: [[2, 1, 4, 3], [3, 2, 3]], attrs: { transB: true } });
  out.push({ name: 'matmul x1000', shapes: [[6, 9], [9, 5]], attrs: {}, scale: 1e3 });
  return out;
}

registerCaseAdapter('matmul', (x, p) => ({ y: matmulOp([x.a!, x.b!], { transA: param.bool(p, 'transpose_a'), transB: param.bool(p, 'transpose_b') }) }), { inputs: ['a', 'b'] });
