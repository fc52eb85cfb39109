/**
 * conv2d with PyTorch's semantics: NCHW input, OIHW weight [O, C/groups, kH, kW], optional bias [O], stride,
 * zero padding, dilation and groups (depthwise when groups = C), each an int or an [h, w] pair. Forward, input
 * gradient and weight gradient are register-blocked implicit GEMMs (kernels/conv2d.ts); the weight gradient
 * splits its reduction over N*OH*OW into chunks whose partial sums a second kernel adds in a fixed order.
 * The backward does only the work ctx.needs asks for: an attack asking for d loss / d x never pays for dW.
 * `activation: 'relu'` fuses relu into the forward's epilogue; that variant is its own op, conv2d_relu,
 * because its backward needs the output (relu'(y) = y > 0) and plain conv2d should not keep it alive.
 */
import { defineOp, type AuditCase, type ForwardResult, type InputGen } from '../op.js';
import { halfOperands } from '../precision.js';
import { empty } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { fmt, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import {
  conv2dWeightGradPlan, runConv2dForward, runConv2dInputGrad, runConv2dWeightGrad, type ConvActivation, type ConvGeometry,
} from '../../kernels/conv2d.js';
import * as o from './index.js';
import { reluBackwardFromOutput } from './activation.js';
import { registerCaseAdapter, type CaseParams } from '../case_adapters.js';

type Pair = [number, number];

export interface Conv2dAttrs { stride: Pair; padding: Pair; dilation: Pair; groups: number }

export interface Conv2dOptions {
  /** [O], added to every output channel. */
  bias?: Tensor | null;
  /** Default 1. */
  stride?: number | readonly [number, number];
  /** Zeros on each side (symmetric, as PyTorch's int padding). Default 0. */
  padding?: number | readonly [number, number];
  /** Default 1. */
  dilation?: number | readonly [number, number];
  /** Input and output channels are split into this many independent groups. Default 1. */
  groups?: number;
  /** Fused epilogue: relu(conv2d(x, w) + bias). Default 'none'. */
  activation?: ConvActivation;
}

function pairArg(op: string, name: string, v: number | readonly number[] | undefined, fallback: number, min: number): Pair {
  const p = v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new RangeError(`${op}: ${name} must be an integer >= ${min} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  }
  return p as Pair;
}

/** Output extent of one spatial dim (PyTorch's formula). */
export function convOutSize(size: number, k: number, stride: number, pad: number, dil: number): number {
  return Math.floor((size + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
}

/** Checks the shapes against each other and the attrs; the geometry the kernels take. */
export function convGeometry(op: string, x: Shape, w: Shape, bias: Shape | null, a: Conv2dAttrs): ConvGeometry {
  if (x.length !== 4) throw new RangeError(`${op}: x must be 4-D [N, C, H, W], got shape ${fmt(x)}`);
  if (w.length !== 4) throw new RangeError(`${op}: weight must be 4-D [O, C/groups, kH, kW], got shape ${fmt(w)}`);
  const [N, C, H, W] = x as [number, number, number, number];
  const [O, Cg, KH, KW] = w as [number, number, number, number];
  const G = a.groups;
  if (!Number.isInteger(G) || G < 1) throw new RangeError(`${op}: groups must be a positive integer, got ${G}`);
  if (C % G !== 0) throw new RangeError(`${op}: input channels ${C} (x ${fmt(x)}) are not divisible by groups=${G}`);
  if (O % G !== 0) throw new RangeError(`${op}: output channels ${O} (weight ${fmt(w)}) are not divisible by groups=${G}`);
  if (Cg * G !== C) {
    throw new RangeError(`${op}: weight ${fmt(w)} expects ${Cg}*groups = ${Cg * G} input channels, x ${fmt(x)} has ${C} (groups=${G})`);
  }
  if (KH < 1 || KW < 1 || O < 1) throw new RangeError(`${op}: weight ${fmt(w)} has an empty dimension`);
  if (bias && (bias.length !== 1 || bias[0] !== O)) throw new RangeError(`${op}: bias must have shape [${O}] (the weight's output channels), got ${fmt(bias)}`);
  // Attrs reach here from conv2d() already checked, but conv2dOp can be called directly.
  const [sh, sw] = pairArg(op, 'stride', a.stride, 1, 1);
  const [ph, pw] = pairArg(op, 'padding', a.padding, 0, 0);
  const [dh, dw] = pairArg(op, 'dilation', a.dilation, 1, 1);
  const OH = convOutSize(H, KH, sh, ph, dh);
  const OW = convOutSize(W, KW, sw, pw, dw);
  if (OH < 1 || OW < 1) {
    throw new RangeError(`${op}: the padded input ${H + 2 * ph}x${W + 2 * pw} (x ${fmt(x)}, padding [${ph}, ${pw}]) is smaller than the dilated kernel `
      + `${dh * (KH - 1) + 1}x${dw * (KW - 1) + 1} (weight ${fmt(w)}, dilation [${dh}, ${dw}]): output size ${OH}x${OW}`);
  }
  return { N, C, H, W, O, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, groups: G };
}

/**
 * The conv2d backward with g already through the activation's derivative. With f16 operands saved (mixed
 * precision), g is cast to f16 too and the f16-operand kernels give f32 gradients.
 */
function convBackward(g: Tensor, x: Tensor, w: Tensor, needs: readonly boolean[], hasBias: boolean, geo0: ConvGeometry): (Tensor | null)[] {
  const half = x.dtype === 'float16';
  const geo: ConvGeometry = { ...geo0, half };
  const gk = half && (needs[0] || needs[1]) ? o.toFloat16(g) : g;
  let dx: Tensor | null = null;
  let dw: Tensor | null = null;
  if (needs[0]) {
    dx = empty(x.device, x.shape);
    runConv2dInputGrad(x.device, gk.storage.binding(), w.storage.binding(), dx.storage.binding(), geo);
  }
  if (needs[1]) {
    dw = empty(w.device, w.shape);
    const plan = conv2dWeightGradPlan(w.device, geo);
    const part = plan.chunks > 1 ? empty(w.device, [plan.partialSize]) : null;
    runConv2dWeightGrad(w.device, x.storage.binding(), gk.storage.binding(), part?.storage.binding() ?? null, dw.storage.binding(), geo, plan);
  }
  // The bias gradient sums g over N, H, W: first each contiguous [OH*OW] row, then over the batch.
  const db = hasBias && needs[2] ? o.sum(o.sum(o.reshape(g, [geo.N, geo.O, geo.OH * geo.OW]), 2), 0) : null;
  return hasBias ? [dx, dw, db] : [dx, dw];
}

/**
 * y = act(conv(x, w) + b). Hands its backward the operands it read: aliases of x and w, or under f16-mixed
 * (engine/precision.ts) their f16 copies, which the backward reads in place of the f32 inputs.
 */
function convForward(inputs: Tensor[], a: Conv2dAttrs, op: string, act: ConvActivation): ForwardResult {
  const [x, w, b] = inputs as [Tensor, Tensor, Tensor | undefined];
  const half = halfOperands();
  const geo = { ...convGeometry(op, x.shape, w.shape, b ? b.shape : null, a), half };
  const y = empty(x.device, [geo.N, geo.O, geo.OH, geo.OW]);
  const xs = half ? o.halfOperand(x) : x.alias();
  const ws = half ? o.halfOperand(w) : w.alias();
  runConv2dForward(x.device, xs.storage.binding(), ws.storage.binding(), b ? b.storage.binding() : null, y.storage.binding(), geo, act);
  return { out: y, saved: { xs, ws } };
}

function geometryOf(shapes: readonly Shape[], a: Conv2dAttrs, op: string): ConvGeometry {
  return convGeometry(op, shapes[0]!, shapes[1]!, shapes[2] ?? null, a);
}

/** f16 operands (2^-11 relative rounding each) with f32 accumulation, against the float64 reference. */
const MIXED_TOLERANCE = { atol: 5e-3, rtol: 5e-3 };

export const conv2dOp = defineOp<Conv2dAttrs>({
  name: 'conv2d',
  forward: (inputs, a) => convForward(inputs, a, 'conv2d', 'none'),
  inputs: ['x', 'weight', 'bias?'],
  save: ['xs', 'ws'],
  backward: (g, ctx) => {
    const { xs, ws } = ctx.saved as { xs: Tensor; ws: Tensor };
    return convBackward(g, xs, ws, ctx.needs, ctx.inputShapes.length === 3, geometryOf(ctx.inputShapes, ctx.attrs, 'conv2d'));
  },
  reference: {
    forward: ([x, w, b], a) => refConv(x!, w!, b ?? null, a),
    backward: ([x, w, b], a, _, g) => refConvBackward(x!, w!, b !== undefined, a, g),
  },
  audit: convCases(),
  mixedPrecision: { tolerance: MIXED_TOLERANCE },
});

export const conv2dReluOp = defineOp<Conv2dAttrs>({
  name: 'conv2d_relu',
  forward: (inputs, a) => convForward(inputs, a, 'conv2d_relu', 'relu'),
  inputs: ['x', 'weight', 'bias?'],
  save: ['xs', 'ws', 'y'],
  backward: (g, ctx) => {
    const { xs, ws, y } = ctx.saved as { xs: Tensor; ws: Tensor; y: Tensor };
    const gp = reluBackwardFromOutput(g, y);
    return convBackward(gp, xs, ws, ctx.needs, ctx.inputShapes.length === 3, geometryOf(ctx.inputShapes, ctx.attrs, 'conv2d_relu'));
  },
  reference: {
    forward: ([x, w, b], a) => refRelu(refConv(x!, w!, b ?? null, a)),
    backward: ([x, w, b], a, y, g) => refConvBackward(x!, w!, b !== undefined, a, { shape: g.shape, data: g.data.map((v, i) => (y.data[i]! > 0 ? v : 0)) }),
  },
  audit: reluCases(),
  mixedPrecision: { tolerance: MIXED_TOLERANCE },
});

/**
 * 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) of x [N, C, H, W] with weight
 * [O, C/groups, kH, kW], plus bias [O] when given; returns [N, O, OH, OW] with
 * OH = floor((H + 2*padding - dilation*(kH-1) - 1) / stride) + 1.
 */
export function conv2d(x: Tensor, weight: Tensor, opts: Conv2dOptions = {}): Tensor {
  const attrs: Conv2dAttrs = {
    stride: pairArg('conv2d', 'stride', opts.stride, 1, 1),
    padding: pairArg('conv2d', 'padding', opts.padding, 0, 0),
    dilation: pairArg('conv2d', 'dilation', opts.dilation, 1, 1),
    groups: opts.groups ?? 1,
  };
  const act = opts.activation ?? 'none';
  if (act !== 'none' && act !== 'relu') throw new RangeError(`conv2d: activation must be 'none' or 'relu', got ${JSON.stringify(act)}`);
  const inputs = opts.bias ? [x, weight, opts.bias] : [x, weight];
  return act === 'relu' ? conv2dReluOp(inputs, attrs) : conv2dOp(inputs, attrs);
}

// ---- float64 reference: the direct 7-loop convolution and its gradients, independent of the GPU code ----

/** Visits every (output element, tap) pair that touches the input: f(yIndex, xIndex, wIndex). */
function eachTap(xs: Shape, ws: Shape, a: Conv2dAttrs, f: (yi: number, xi: number, wi: number) => void): void {
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, Cg, KH, KW] = ws as [number, number, number, number];
  const Og = O / a.groups;
  const OH = convOutSize(H, KH, a.stride[0], a.padding[0], a.dilation[0]);
  const OW = convOutSize(W, KW, a.stride[1], a.padding[1], a.dilation[1]);
  for (let n = 0; n < N; n++) {
    for (let oc = 0; oc < O; oc++) {
      const g = Math.floor(oc / Og);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const yi = ((n * O + oc) * OH + oh) * OW + ow;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * a.stride[0] - a.padding[0] + kh * a.dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * a.stride[1] - a.padding[1] + kw * a.dilation[1];
                if (iw < 0 || iw >= W) continue;
                f(yi, ((n * C + g * Cg + c) * H + ih) * W + iw, ((oc * Cg + c) * KH + kh) * KW + kw);
              }
            }
          }
        }
      }
    }
  }
}

function refConv(x: RefTensor, w: RefTensor, b: RefTensor | null, a: Conv2dAttrs): RefTensor {
  const geo = convGeometry('conv2d (reference)', x.shape, w.shape, b ? b.shape : null, a);
  const y = ref([geo.N, geo.O, geo.OH, geo.OW]);
  const P = geo.OH * geo.OW;
  if (b) for (let i = 0; i < y.data.length; i++) y.data[i] = b.data[Math.floor(i / P) % geo.O]!;
  eachTap(x.shape, w.shape, a, (yi, xi, wi) => { y.data[yi] += x.data[xi]! * w.data[wi]!; });
  return y;
}

function refConvBackward(x: RefTensor, w: RefTensor, hasBias: boolean, a: Conv2dAttrs, g: RefTensor): RefTensor[] {
  const dx = ref(x.shape);
  const dw = ref(w.shape);
  eachTap(x.shape, w.shape, a, (yi, xi, wi) => {
    dx.data[xi] += g.data[yi]! * w.data[wi]!;
    dw.data[wi] += g.data[yi]! * x.data[xi]!;
  });
  if (!hasBias) return [dx, dw];
  const [N, O, OH, OW] = g.shape as [number, number, number, number];
  const db = ref([O]);
  for (let i = 0; i < N * O * OH * OW; i++) db.data[Math.floor(i / (OH * OW)) % O] += g.data[i]!;
  return [dx, dw, db];
}

function refRelu(y: RefTensor): RefTensor {
  return { shape: y.shape, data: y.data.map((v) => (v > 0 ? v : 0)) };
}

// ---- audit cases: tiny shapes, since finite differences run the reference over each ----

interface CaseSpec { name: string; x: Shape; w: Shape; bias?: boolean; stride?: number | Pair; padding?: number | Pair; dilation?: number | Pair; groups?: number; scale?: number }

function toCase(s: CaseSpec): AuditCase<Conv2dAttrs> {
  const attrs: Conv2dAttrs = {
    stride: pairArg('conv2d', 'stride', s.stride, 1, 1), padding: pairArg('conv2d', 'padding', s.padding, 0, 0),
    dilation: pairArg('conv2d', 'dilation', s.dilation, 1, 1), groups: s.groups ?? 1,
  };
  const shapes = s.bias ? [s.x, s.w, [s.w[0]!]] : [s.x, s.w];
  return { name: s.name, shapes, attrs, gen: shapes.map((): InputGen => 'normal'), scale: s.scale };
}

function convCases(): AuditCase<Conv2dAttrs>[] {
  const specs: CaseSpec[] = [
    { name: '3x3 pad 1, C 3 -> 4, bias', x: [2, 3, 5, 5], w: [4, 3, 3, 3], padding: 1, bias: true },
    { name: 'stride 2 pad 1, batch 1, odd 7x9, C 5 -> 6', x: [1, 5, 7, 9], w: [6, 5, 3, 3], stride: 2, padding: 1 },
    { name: 'pad 2 dilation 2, bias', x: [2, 3, 7, 6], w: [5, 3, 3, 3], padding: 2, dilation: 2, bias: true },
    { name: 'groups 2, C 6 -> 4, bias', x: [2, 6, 5, 5], w: [4, 3, 3, 3], padding: 1, groups: 2, bias: true },
    { name: 'depthwise, C 5, bias', x: [2, 5, 6, 7], w: [5, 1, 3, 3], padding: 1, groups: 5, bias: true },
    { name: 'depthwise multiplier 2, stride 2', x: [1, 3, 7, 7], w: [6, 1, 3, 3], padding: 1, stride: 2, groups: 3 },
    { name: '1x1 (plain GEMM), C 6 -> 5', x: [2, 6, 4, 5], w: [5, 6, 1, 1] },
    { name: '1x1 with bias', x: [2, 3, 3, 5], w: [5, 3, 1, 1], bias: true },
    { name: '1x1 stride 2 (shortcut)', x: [2, 6, 7, 7], w: [3, 6, 1, 1], stride: 2 },
    { name: 'kernel 5x5 larger than the 3x3 input, pad 2', x: [1, 2, 3, 3], w: [3, 2, 5, 5], padding: 2, bias: true },
    { name: 'stride 2 leaving input rows unused', x: [1, 2, 6, 6], w: [2, 2, 3, 3], stride: 2 },
    { name: 'stride 3 pad 1 dilation 2', x: [1, 3, 8, 8], w: [2, 3, 2, 2], stride: 3, padding: 1, dilation: 2 },
    { name: 'pairs: 3x2 kernel, stride [1,2], padding [2,0], dilation [1,2]', x: [2, 3, 6, 7], w: [4, 3, 3, 2], stride: [1, 2], padding: [2, 0], dilation: [1, 2], bias: true },
    { name: '100 output channels (two row tiles), C 20 (K 180)', x: [1, 20, 5, 5], w: [100, 20, 3, 3], padding: 1, bias: true },
    { name: 'split-K weight gradient (1024 pixels)', x: [4, 2, 16, 16], w: [3, 2, 3, 3], padding: 1, bias: true },
    { name: 'x1000', x: [2, 3, 5, 5], w: [4, 3, 3, 3], padding: 1, bias: true, scale: 1e3 },
    { name: 'x0.001', x: [2, 3, 5, 5], w: [4, 3, 3, 3], padding: 1, bias: true, scale: 1e-3 },
  ];
  return specs.map(toCase);
}

function reluCases(): AuditCase<Conv2dAttrs>[] {
  const specs: CaseSpec[] = [
    { name: 'relu 3x3 pad 1, bias', x: [2, 3, 5, 6], w: [4, 3, 3, 3], padding: 1, bias: true },
    { name: 'relu stride 2 groups 2, no bias', x: [1, 4, 7, 7], w: [6, 2, 3, 3], stride: 2, padding: 1, groups: 2 },
  ];
  return specs.map(toCase);
}

// ---- reference cases (REFERENCE_CASES.md): params stride, padding, dilation, groups (ints), inputs x, weight, [bias] ----

function caseInt(p: CaseParams, k: string, fallback: number): number | [number, number] {
  const v = p[k];
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (Array.isArray(v) && v.length === 2 && v.every((d) => Number.isInteger(d))) return [v[0] as number, v[1] as number];
  throw new TypeError(`params.${k}: expected an integer or a pair of integers, got ${JSON.stringify(v)}`);
}

registerCaseAdapter('conv2d', (x, p) => {
  const groups = caseInt(p, 'groups', 1);
  if (typeof groups !== 'number') throw new TypeError(`params.groups: expected an integer, got ${JSON.stringify(groups)}`);
  // kernel_size, in_channels and out_channels restate the tensors' shapes: check them rather than trust either.
  const w = x.weight!.shape;
  const stated: [string, unknown, number][] = [['kernel_size', p.kernel_size, w[2]!], ['in_channels', p.in_channels, x.x!.shape[1]!], ['out_channels', p.out_channels, w[0]!]];
  for (const [k, v, actual] of stated) {
    if (v !== undefined && v !== null && v !== actual && !(Array.isArray(v) && v[0] === actual)) {
      throw new RangeError(`conv2d case: params.${k} is ${JSON.stringify(v)} but the inputs have ${actual} (x [${x.x!.shape.join(', ')}], weight [${w.join(', ')}])`);
    }
  }
  return {
    y: conv2d(x.x!, x.weight!, {
      bias: x.bias ?? null, stride: caseInt(p, 'stride', 1), padding: caseInt(p, 'padding', 0), dilation: caseInt(p, 'dilation', 1), groups,
    }),
  };
}, { inputs: ['x', 'weight'] });
