/**
 * Activations, including SAT's smooth ones (METHODS.md 6.2-6.3): relu, softplus, psoftplus (learnable alpha),
 * silu, gelu (erf or tanh), elu, smoothrelu (learnable a), mish, tanh, sigmoid, and relu_smoothgrad (relu
 * forward, sigmoid(alpha x) backward). One forward kernel and one backward kernel serve them all; both are
 * stable for every finite input (kernels/lib/stable.wgsl), which the audit checks at |x| ~ 100 and 1000.
 * The gradient of a learnable scalar is the sum over elements of g df/dp, written by the backward kernel
 * and summed by the engine's sum op.
 */
import { defineOp, type AuditCase, type InputGen, type OpFn } from '../op.js';
import { empty, full } from '../create.js';
import { ref, refMap, type RefTensor } from '../ref/tensor.js';
import { scope } from '../scope.js';
import { fmt } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runActivation, runActivationBackward, type ActivationKernelOp } from '../../kernels/activation.js';
import * as o from './index.js';
import { registerCaseAdapter, param, type CaseParams } from '../case_adapters.js';

/** The scalars activations take (PyTorch's names); each op reads its own. */
export interface ActivationAttrs {
  /** softplus */
  beta?: number;
  /** softplus: beta x above it gives x (PyTorch's threshold, default 20). */
  threshold?: number;
  /** elu's alpha (default 1); relu_smoothgrad's sigmoid sharpness (default 10, SAT's value). */
  alpha?: number;
  /** gelu: 'none' (erf, default) or 'tanh'. */
  approximate?: 'none' | 'tanh';
}

/** Names accepted by `activation()`; gelu_tanh is gelu with approximate 'tanh'. */
export const ACTIVATION_NAMES = [
  'relu', 'softplus', 'psoftplus', 'silu', 'gelu', 'gelu_tanh', 'elu', 'smoothrelu', 'mish', 'tanh', 'sigmoid', 'relu_smoothgrad',
] as const;
export type ActivationName = (typeof ACTIVATION_NAMES)[number];

// ---- float64 reference math (plain formulas; only overflow is guarded) ----

const sig64 = (t: number): number => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));
const sp64 = (t: number): number => Math.max(t, 0) + Math.log1p(Math.exp(-Math.abs(t)));

/** erfc in float64 (~1e-12 relative): below 3, 1 - erf from erf's positive-term series e^{-x^2} sum 2^n x^(2n+1) / (2n+1)!!; above, the continued fraction. */
function erfc64(x: number): number {
  if (x < 0) return 2 - erfc64(-x);
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  let f = x;
  for (let k = 120; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
const cdf64 = (x: number): number => 0.5 * erfc64(-x / Math.SQRT2);
const pdf64 = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const GELU_C = Math.sqrt(2 / Math.PI);

// ---- validation ----

function finite(op: string, name: string, v: number, extra?: (v: number) => boolean, expect = 'a finite number'): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (extra && !extra(v))) throw new RangeError(`${op}: ${name} must be ${expect}, got ${String(v)}`);
  return v;
}
const softplusAttrs = (a: ActivationAttrs): [number, number] => [
  finite('softplus', 'beta', a.beta ?? 1, (v) => v !== 0, 'a finite nonzero number'),
  finite('softplus', 'threshold', a.threshold ?? 20),
];
const eluAlpha = (a: ActivationAttrs): number => finite('elu', 'alpha', a.alpha ?? 1);
const smoothgradAlpha = (a: ActivationAttrs): number => finite('relu_smoothgrad', 'alpha', a.alpha ?? 10, (v) => v > 0, 'a finite positive number');
function geluKernel(a: ActivationAttrs): ActivationKernelOp {
  const m = a.approximate ?? 'none';
  if (m !== 'none' && m !== 'tanh') throw new RangeError(`gelu: approximate must be 'none' or 'tanh', got '${String(m)}'`);
  return m === 'tanh' ? 'gelu_tanh' : 'gelu';
}

// ---- the table ----

interface Row {
  kernel: (a: ActivationAttrs) => ActivationKernelOp;
  /** The kernel's scalars a, b (validated). */
  scalars?: (a: ActivationAttrs) => [number, number];
  /** Input 1 is a learnable scalar tensor (psoftplus's alpha, smoothrelu's a). */
  param?: string;
  f: (x: number, a: ActivationAttrs, p: number) => number;
  /** [df/dx, df/dparam] */
  df: (x: number, a: ActivationAttrs, p: number) => [number, number];
  /** The backward is not the derivative (relu_smoothgrad). */
  surrogate?: boolean;
  /** Attribute sets the audit runs, each with how x is drawn ('away' where the derivative jumps at 0). */
  cases: { attrs: ActivationAttrs; gen: InputGen; scales: number[]; label?: string }[];
}

const BIG = [100, 1e3];

const rows = {
  relu: {
    kernel: () => 'relu',
    f: (x) => (x > 0 ? x : 0), df: (x) => [x > 0 ? 1 : 0, 0],
    cases: [{ attrs: {}, gen: 'away', scales: [...BIG, 1e-3] }],
  },
  softplus: {
    kernel: () => 'softplus', scalars: softplusAttrs,
    f: (x, a) => { const [b, th] = softplusAttrs(a); return b * x > th ? x : sp64(b * x) / b; },
    df: (x, a) => { const [b, th] = softplusAttrs(a); return [b * x > th ? 1 : sig64(b * x), 0]; },
    cases: [
      { attrs: { beta: 1, threshold: 20 }, gen: 'normal', scales: [...BIG, 30, 1e-3] },
      // beta x crosses the threshold inside the drawn range (x = 1.5): the PyTorch switch to x.
      { attrs: { beta: 2, threshold: 3 }, gen: 'normal', scales: [3], label: 'threshold crossing' },
      { attrs: { beta: 0.5, threshold: 10 }, gen: 'normal', scales: [100] },
    ],
  },
  psoftplus: {
    kernel: () => 'psoftplus', param: 'alpha',
    f: (x, _, al) => sp64(al * x) / al,
    df: (x, _, al) => [sig64(al * x), (x * sig64(al * x) - sp64(al * x) / al) / al],
    cases: [{ attrs: {}, gen: 'normal', scales: [...BIG, 10, 1e-3] }],
  },
  silu: {
    kernel: () => 'silu',
    f: (x) => x * sig64(x), df: (x) => [sig64(x) * (1 + x * (1 - sig64(x))), 0],
    cases: [{ attrs: {}, gen: 'normal', scales: [...BIG, 1e-3] }],
  },
  gelu: {
    kernel: geluKernel,
    f: (x, a) => (geluKernel(a) === 'gelu' ? x * cdf64(x) : 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x ** 3)))),
    df: (x, a) => {
      if (geluKernel(a) === 'gelu') return [cdf64(x) + x * pdf64(x), 0];
      const t = Math.tanh(GELU_C * (x + 0.044715 * x ** 3));
      return [0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x), 0];
    },
    cases: [
      { attrs: { approximate: 'none' }, gen: 'normal', scales: [...BIG, 5, 1e-3] },
      { attrs: { approximate: 'tanh' }, gen: 'normal', scales: [...BIG, 5, 1e-3] },
    ],
  },
  elu: {
    kernel: () => 'elu', scalars: (a) => [eluAlpha(a), 0],
    f: (x, a) => (x > 0 ? x : eluAlpha(a) * Math.expm1(x)), df: (x, a) => [x > 0 ? 1 : eluAlpha(a) * Math.exp(x), 0],
    cases: [
      { attrs: { alpha: 1 }, gen: 'normal', scales: [...BIG, 1e-3] },
      // alpha != 1: the derivative jumps at 0.
      { attrs: { alpha: 0.5 }, gen: 'away', scales: [100] },
    ],
  },
  smoothrelu: {
    kernel: () => 'smoothrelu', param: 'a',
    f: (x, _, a) => (x >= 0 ? x - Math.log1p(a * x) / a : 0),
    df: (x, _, a) => (x >= 0 ? [(a * x) / (1 + a * x), Math.log1p(a * x) / (a * a) - x / (a * (1 + a * x))] : [0, 0]),
    cases: [{ attrs: {}, gen: 'normal', scales: [...BIG, 1e-3] }],
  },
  mish: {
    kernel: () => 'mish',
    f: (x) => x * Math.tanh(sp64(x)),
    df: (x) => { const t = Math.tanh(sp64(x)); return [t + x * sig64(x) * (1 - t * t), 0]; },
    cases: [{ attrs: {}, gen: 'normal', scales: [...BIG, 1e-3] }],
  },
  tanh: {
    kernel: () => 'tanh',
    f: Math.tanh, df: (x) => [1 - Math.tanh(x) ** 2, 0],
    cases: [{ attrs: {}, gen: 'normal', scales: [...BIG, 1e-3] }],
  },
  sigmoid: {
    kernel: () => 'sigmoid',
    f: sig64, df: (x) => [sig64(x) * sig64(-x), 0],
    cases: [{ attrs: {}, gen: 'normal', scales: [...BIG, 1e-3] }],
  },
  relu_smoothgrad: {
    kernel: () => 'relu_smoothgrad', scalars: (a) => [smoothgradAlpha(a), 0], surrogate: true,
    f: (x) => (x > 0 ? x : 0), df: (x, a) => [sig64(smoothgradAlpha(a) * x), 0],
    cases: [
      { attrs: { alpha: 10 }, gen: 'normal', scales: [...BIG, 1e-3] },
      { attrs: { alpha: 1 }, gen: 'normal', scales: [] },
    ],
  },
} satisfies Record<string, Row>;

const SHAPES = [[7], [3, 5], [2, 3, 4], [1], [257]];

function auditCases(name: string, r: Row): AuditCase<ActivationAttrs>[] {
  const out: AuditCase<ActivationAttrs>[] = [];
  const withParam = (s: number[]) => (r.param ? [s, []] : [s]);
  const gens = (g: InputGen): InputGen[] => (r.param ? [g, 'positive'] : [g]);
  r.cases.forEach((c, i) => {
    const tag = `${name}${r.cases.length > 1 ? ` ${JSON.stringify(c.attrs)}` : ''}`;
    const shapes = i === 0 ? SHAPES : [[3, 5]];
    for (const s of shapes) out.push({ name: `${tag} ${JSON.stringify(s)}`, shapes: withParam(s), attrs: c.attrs, gen: gens(c.gen) });
    for (const scale of c.scales) {
      out.push({ name: `${tag} x${scale}${c.label ? ` (${c.label})` : ''}`, shapes: withParam([6, 7]), attrs: c.attrs, gen: gens(c.gen), scale });
    }
  });
  return out;
}

function paramOf(op: string, name: string, p: Tensor): void {
  if (p.size !== 1) throw new RangeError(`${op}: ${name} must be a one-element tensor (a learnable scalar), got shape ${fmt(p.shape)}`);
}

function defineActivation(name: string, r: Row): OpFn<ActivationAttrs> {
  const refParam = (inputs: RefTensor[]): number => (r.param ? inputs[1]!.data[0]! : 0);
  return defineOp<ActivationAttrs>({
    name,
    surrogateGradient: r.surrogate,
    forward: (inputs, a) => {
      const x = inputs[0]!;
      const p = r.param ? inputs[1]! : x;
      if (r.param) paramOf(name, r.param, p);
      const [s0, s1] = r.scalars?.(a) ?? [0, 0];
      const y = empty(x.device, x.shape);
      runActivation(x.device, r.kernel(a), x.storage.binding(), p.storage.binding(), y.storage.binding(), x.size, s0, s1);
      return y;
    },
    inputs: r.param ? ['x', 'p'] : ['x'],
    save: r.param ? ['x', 'p'] : ['x'],
    backward: (g, ctx) => {
      const x = ctx.saved.x!;
      const p = r.param ? ctx.saved.p! : x;
      const want = { x: ctx.needs[0]!, p: !!r.param && !!ctx.needs[1] };
      const gx = want.x ? empty(x.device, x.shape) : null;
      const gp = want.p ? empty(x.device, x.shape) : null;
      const unused = !gx || !gp ? empty(x.device, [1]) : null;
      const [s0, s1] = r.scalars?.(ctx.attrs) ?? [0, 0];
      runActivationBackward(x.device, r.kernel(ctx.attrs), {
        x: x.storage.binding(), g: g.storage.binding(), p: p.storage.binding(),
        gx: (gx ?? unused)!.storage.binding(), gp: (gp ?? unused)!.storage.binding(),
      }, x.size, want, s0, s1);
      return r.param ? [gx, gp ? o.reshape(o.sum(gp), p.shape) : null] : [gx];
    },
    reference: {
      forward: (inputs, a) => refMap(inputs[0]!, (v) => r.f(v, a, refParam(inputs))),
      backward: (inputs, a, _, g) => {
        const x = inputs[0]!;
        const p = refParam(inputs);
        const gx = refMap(x, (v, i) => g.data[i]! * r.df(v, a, p)[0]);
        if (!r.param) return [gx];
        let s = 0;
        x.data.forEach((v, i) => { s += g.data[i]! * r.df(v, a, p)[1]; });
        return [gx, ref(inputs[1]!.shape, [s])];
      },
    },
    audit: auditCases(name, r),
  });
}

/** The registered ops by op name (the audit rows and case ops share these names). */
export const activationOps = Object.fromEntries(Object.entries(rows).map(([n, r]) => [n, defineActivation(n, r)])) as Record<keyof typeof rows, OpFn<ActivationAttrs>>;

// ---- public API ----

/** A learnable scalar given as a number becomes a constant tensor inside a scope (the node keeps its storage). */
function withScalar(x: Tensor, p: Tensor | number, fn: (p: Tensor) => Tensor): Tensor {
  if (typeof p !== 'number') return fn(p);
  return scope(() => fn(full([], p, { device: x.device })));
}

/**
 * g where y > 0, else 0: relu's backward from its output y = relu(x) (y > 0 exactly where x > 0), one kernel.
 * Not differentiable; fused ops that end in relu (conv2d_relu) call it in their backward.
 */
export function reluBackwardFromOutput(g: Tensor, y: Tensor): Tensor {
  const gx = empty(y.device, y.shape);
  // gp is not written, but a writable binding may not alias gx
  const unused = empty(y.device, [1]);
  runActivationBackward(y.device, 'relu', { x: y.storage.binding(), g: g.storage.binding(), p: y.storage.binding(), gx: gx.storage.binding(), gp: unused.storage.binding() }, y.size, { x: true, p: false });
  unused.dispose();
  return gx;
}

/** max(x, 0); gradient 0 at x = 0 (PyTorch). */
export const relu = (x: Tensor): Tensor => activationOps.relu([x], {});
/** log(1 + e^{beta x}) / beta, and x where beta x > threshold (PyTorch's softplus; defaults beta 1, threshold 20). */
export const softplus = (x: Tensor, opts: { beta?: number; threshold?: number } = {}): Tensor => activationOps.softplus([x], opts);
/** Parametric softplus (1/alpha) log(1 + e^{alpha x}) with a learnable one-element alpha (> 0); gradients for x and alpha. */
export const psoftplus = (x: Tensor, alpha: Tensor | number): Tensor => withScalar(x, alpha, (p) => activationOps.psoftplus([x, p], {}));
/** x sigmoid(x) (SiLU / Swish-1). */
export const silu = (x: Tensor): Tensor => activationOps.silu([x], {});
/** x Phi(x) (approximate 'none', erf-based) or PyTorch's tanh approximation. */
export const gelu = (x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor => activationOps.gelu([x], opts);
/** x for x > 0, alpha (e^x - 1) otherwise (default alpha 1). */
export const elu = (x: Tensor, opts: { alpha?: number } = {}): Tensor => activationOps.elu([x], opts);
/** SAT's SmoothReLU x - log(1 + a x)/a for x >= 0, else 0, with a learnable one-element a (> 0); gradients for x and a. */
export const smoothrelu = (x: Tensor, a: Tensor | number): Tensor => withScalar(x, a, (p) => activationOps.smoothrelu([x, p], {}));
/** x tanh(softplus(x)). */
export const mish = (x: Tensor): Tensor => activationOps.mish([x], {});
export const tanh = (x: Tensor): Tensor => activationOps.tanh([x], {});
export const sigmoid = (x: Tensor): Tensor => activationOps.sigmoid([x], {});
/**
 * relu forward with the smoothed backward g sigmoid(alpha x) (SAT 6.3; default alpha 10). Its "gradient" is
 * not the network's: never use it in evaluation attacks.
 */
export const reluSmoothgrad = (x: Tensor, opts: { alpha?: number } = {}): Tensor => activationOps.relu_smoothgrad([x], { alpha: opts.alpha ?? 10 });

export interface ActivationParams {
  /** softplus */
  beta?: number;
  threshold?: number;
  /** elu and relu_smoothgrad: a number; psoftplus: its learnable scalar (tensor or constant). */
  alpha?: number | Tensor;
  /** smoothrelu's learnable scalar. */
  a?: number | Tensor;
}

/** Applies the activation called `name` (ACTIVATION_NAMES), so layers can swap activations by configuration. */
export function activation(name: ActivationName, x: Tensor, params: ActivationParams = {}): Tensor {
  const num = (what: string, v: number | Tensor | undefined): number | undefined => {
    if (v !== undefined && typeof v !== 'number') throw new TypeError(`activation('${name}'): ${what} must be a number, got a tensor`);
    return v;
  };
  const need = (what: string, v: number | Tensor | undefined): number | Tensor => {
    if (v === undefined) throw new TypeError(`activation('${name}'): params.${what} (the learnable scalar) is required`);
    return v;
  };
  switch (name) {
    case 'relu': return relu(x);
    case 'softplus': return softplus(x, { beta: params.beta, threshold: params.threshold });
    case 'psoftplus': return psoftplus(x, need('alpha', params.alpha));
    case 'silu': return silu(x);
    case 'gelu': return gelu(x);
    case 'gelu_tanh': return gelu(x, { approximate: 'tanh' });
    case 'elu': return elu(x, { alpha: num('alpha', params.alpha) });
    case 'smoothrelu': return smoothrelu(x, need('a', params.a));
    case 'mish': return mish(x);
    case 'tanh': return tanh(x);
    case 'sigmoid': return sigmoid(x);
    case 'relu_smoothgrad': return reluSmoothgrad(x, { alpha: num('alpha', params.alpha) });
    default: throw new RangeError(`activation: unknown name '${String(name)}' (expected one of ${ACTIVATION_NAMES.join(', ')})`);
  }
}

// ---- reference-case adapters (REFERENCE_CASES.md; psoftplus, smoothrelu, mish, relu_smoothgrad are this project's) ----

const optNum = (p: CaseParams, k: string, fallback: number): number => param.optNum(p, k) ?? fallback;
for (const name of ['relu', 'silu', 'tanh', 'sigmoid', 'mish'] as const) {
  registerCaseAdapter(name, (x) => ({ y: activationOps[name]([x.x!], {}) }), { inputs: ['x'] });
}
registerCaseAdapter('softplus', (x, p) => ({ y: softplus(x.x!, { beta: optNum(p, 'beta', 1), threshold: optNum(p, 'threshold', 20) }) }), { inputs: ['x'] });
registerCaseAdapter('gelu', (x, p) => {
  const m = p.approximate ?? 'none';
  if (m !== 'none' && m !== 'tanh') throw new TypeError(`params.approximate: expected "none" or "tanh", got ${JSON.stringify(m)}`);
  return { y: gelu(x.x!, { approximate: m }) };
}, { inputs: ['x'] });
registerCaseAdapter('elu', (x, p) => ({ y: elu(x.x!, { alpha: optNum(p, 'alpha', 1) }) }), { inputs: ['x'] });
registerCaseAdapter('psoftplus', (x) => ({ y: activationOps.psoftplus([x.x!, x.alpha!], {}) }), { inputs: ['x', 'alpha'] });
registerCaseAdapter('smoothrelu', (x) => ({ y: activationOps.smoothrelu([x.x!, x.a!], {}) }), { inputs: ['x', 'a'] });
registerCaseAdapter('relu_smoothgrad', (x, p) => ({ y: reluSmoothgrad(x.x!, { alpha: optNum(p, 'alpha', 10) }) }), { inputs: ['x'] });
