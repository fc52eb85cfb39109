/**
 * Elementwise unary ops, one table row each: the kernel op, the float64 function and derivative for the
 * reference, the backward written with other ops, and how the audit draws inputs.
 */
import { defineOp, type AuditCase, type InputGen, type OpFn } from '../op.js';
import { empty } from '../create.js';
import { refMap } from '../ref/tensor.js';
import type { Tensor } from '../tensor.js';
import { runUnary, type UnaryKernelOp } from '../../kernels/elementwise.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

/** Scalars some unary ops take; the audit case params use these names too. */
export interface UnaryAttrs { scale?: number; shift?: number; exponent?: number; min?: number | null; max?: number | null }

const BIG = 3.4028234663852886e38;

interface Row {
  kernel: UnaryKernelOp;
  /** The kernel's two scalars from the attrs. */
  scalars?: (a: UnaryAttrs) => [number, number];
  f: (x: number, a: UnaryAttrs) => number;
  df: (x: number, y: number, a: UnaryAttrs) => number;
  /** Backward from g, the input x and the output y. */
  grad: (g: Tensor, x: Tensor, y: Tensor, a: UnaryAttrs) => Tensor;
  gen?: InputGen;
  cases?: UnaryAttrs[];
  /** Input magnitudes the audit adds (default 1e3 and 1e-3 for ops defined on all reals). */
  scales?: number[];
}

const clampBounds = (a: UnaryAttrs): [number, number] => [a.min ?? -BIG, a.max ?? BIG];

const rows: Record<string, Row> = {
  neg: { kernel: 'neg', f: (x) => -x, df: () => -1, grad: (g) => o.neg(g) },
  // e^x overflows float32 past 88: the large-magnitude case stays below that.
  exp: { kernel: 'exp', f: Math.exp, df: (_, y) => y, grad: (g, _, y) => o.mul(g, y), scales: [20, 1e-3] },
  log: { kernel: 'log', f: Math.log, df: (x) => 1 / x, grad: (g, x) => o.div(g, x), gen: 'positive' },
  sqrt: { kernel: 'sqrt', f: Math.sqrt, df: (_, y) => 0.5 / y, grad: (g, _, y) => o.scaleShift(o.div(g, y), 0.5, 0), gen: 'positive' },
  abs: { kernel: 'abs', f: Math.abs, df: (x) => Math.sign(x), grad: (g, x) => o.mul(g, o.sign(x)), gen: 'away' },
  sign: { kernel: 'sign', f: Math.sign, df: () => 0, grad: (g) => o.scaleShift(g, 0, 0), gen: 'away' },
  square: { kernel: 'square', f: (x) => x * x, df: (x) => 2 * x, grad: (g, x) => o.scaleShift(o.mul(g, x), 2, 0) },
  reciprocal: { kernel: 'reciprocal', f: (x) => 1 / x, df: (_, y) => -y * y, grad: (g, _, y) => o.neg(o.mul(g, o.square(y))), gen: 'positive' },
  scale_shift: {
    kernel: 'scale_shift', scalars: (a) => [a.scale ?? 1, a.shift ?? 0],
    f: (x, a) => x * (a.scale ?? 1) + (a.shift ?? 0), df: (_, __, a) => a.scale ?? 1,
    grad: (g, _, __, a) => o.scaleShift(g, a.scale ?? 1, 0),
    cases: [{ scale: 2.5, shift: -1 }, { scale: -0.5, shift: 3 }],
  },
  pow_scalar: {
    kernel: 'pow_scalar', scalars: (a) => [a.exponent ?? 1, 0],
    f: (x, a) => Math.pow(x, a.exponent ?? 1), df: (x, _, a) => (a.exponent ?? 1) * Math.pow(x, (a.exponent ?? 1) - 1),
    grad: (g, x, _, a) => o.mul(g, o.scaleShift(o.powScalar(x, (a.exponent ?? 1) - 1), a.exponent ?? 1, 0)),
    gen: 'positive', cases: [{ exponent: 2 }, { exponent: 0.5 }, { exponent: -1.5 }, { exponent: 3 }],
  },
  clamp: {
    kernel: 'clamp', scalars: clampBounds,
    f: (x, a) => Math.min(Math.max(x, a.min ?? -Infinity), a.max ?? Infinity),
    df: (x, _, a) => (x >= (a.min ?? -Infinity) && x <= (a.max ?? Infinity) ? 1 : 0),
    grad: (g, x, _, a) => o.mul(g, o.inRange(x, ...clampBounds(a))),
    // Bounds sit between the drawn values' grid (see audit 'distinct'), so no input lands on one.
    gen: 'distinct', cases: [{ min: -0.51, max: 0.49 }, { min: null, max: 0.27 }, { min: -0.33, max: null }],
  },
};

function auditCases(name: string, r: Row): AuditCase<UnaryAttrs>[] {
  const attrs = r.cases ?? [{}];
  const shapes = [[7], [3, 5], [2, 3, 4], [1], [257]];
  const out: AuditCase<UnaryAttrs>[] = [];
  attrs.forEach((a, i) => {
    for (const s of shapes) out.push({ name: `${name}${attrs.length > 1 ? `#${i}` : ''} ${JSON.stringify(s)}`, shapes: [s], attrs: a, gen: [r.gen ?? 'normal'] });
  });
  if (!r.gen || r.gen === 'normal' || r.gen === 'away') {
    for (const scale of r.scales ?? [1e3, 1e-3]) out.push({ name: `${name} x${scale}`, shapes: [[5, 3]], attrs: attrs[0]!, gen: [r.gen ?? 'normal'], scale });
  }
  return out;
}

function defineUnary(name: string, r: Row): OpFn<UnaryAttrs> {
  return defineOp<UnaryAttrs>({
    name,
    forward: ([x], a) => {
      const y = empty(x!.device, x!.shape);
      const [s0, s1] = r.scalars?.(a) ?? [0, 0];
      runUnary(x!.device, r.kernel, x!.storage.binding(), y.storage.binding(), y.size, s0, s1);
      return y;
    },
    inputs: ['x'],
    save: ['x', 'y'],
    backward: (g, ctx) => [r.grad(g, ctx.saved.x!, ctx.saved.y!, ctx.attrs)],
    reference: {
      forward: ([x], a) => refMap(x!, (v) => r.f(v, a)),
      backward: ([x], a, y, g) => [refMap(x!, (v, i) => g.data[i]! * r.df(v, y.data[i]!, a))],
    },
    audit: auditCases(name, r),
  });
}

export const unaryOps = Object.fromEntries(Object.entries(rows).map(([n, r]) => [n, defineUnary(n, r)])) as Record<keyof typeof rows, OpFn<UnaryAttrs>>;

/** 1 where lo <= x <= hi, else 0 (the mask of clamp's backward; no gradient). */
export const inRangeOp = defineOp<{ lo: number; hi: number }>({
  name: 'in_range',
  forward: ([x], a) => {
    const y = empty(x!.device, x!.shape);
    runUnary(x!.device, 'in_range', x!.storage.binding(), y.storage.binding(), y.size, a.lo, a.hi);
    return y;
  },
  reference: { forward: ([x], a) => refMap(x!, (v) => (v >= a.lo && v <= a.hi ? 1 : 0)) },
  audit: [{ name: 'in_range [4,5]', shapes: [[4, 5]], attrs: { lo: -0.51, hi: 0.49 }, gen: ['distinct'] }],
});

for (const name of ['neg', 'exp', 'log', 'sqrt', 'abs', 'sign', 'square', 'reciprocal'] as const) {
  registerCaseAdapter(name, (x) => ({ y: unaryOps[name]([x.x!], {}) }), { inputs: ['x'] });
}
registerCaseAdapter('scale_shift', (x, p) => ({ y: unaryOps.scale_shift([x.x!], { scale: param.num(p, 'scale'), shift: param.num(p, 'shift') }) }), { inputs: ['x'] });
registerCaseAdapter('pow_scalar', (x, p) => ({ y: unaryOps.pow_scalar([x.x!], { exponent: param.num(p, 'exponent') }) }), { inputs: ['x'] });
registerCaseAdapter('clamp', (x, p) => ({ y: unaryOps.clamp([x.x!], { min: param.optNum(p, 'min'), max: param.optNum(p, 'max') }) }), { inputs: ['x'] });
