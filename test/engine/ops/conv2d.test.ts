import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import * as o from '../../../engine/ops/index.js';
import {
  CONV_BLOCKS, chooseConvBlock, runConv2dForward, runConv2dInputGrad, runConv2dWeightGrad, tiledWeightGradPlan, weightGradPlan, type ConvGeometry,
} from '../../../kernels/conv2d.js';
import { chooseBlock } from '../../../kernels/matmul.js';
import { empty } from '../../../engine/create.js';
import type { Tensor } from '../../../engine/tensor.js';
import type { Kernel } from '../../../kernels/kernel.js';
import { setKernelChoice } from '../../../kernels/choice.js';
import { runAudit } from '../../../engine/audit.js';
import { runCaseFiles } from '../../../engine/audit_cases.js';
import { join } from 'node:path';

const dev = useDevice();

type Pair = number | [number, number];
interface Spec { x: number[]; w: number[]; stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean }

const pair = (v: Pair | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/** Seeded values in [-1, 1) (a small LCG: the test needs no engine code to make its inputs). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/**
 * conv2d by im2col + matmul in float64, written independently of the engine's reference: for each group,
 * cols[(c,kh,kw), (n,oh,ow)] holds the input pixel under each tap (0 in the padding); y = W cols + b,
 * dW = G cols^T, dcols = W^T G scattered back onto x (col2im), db = sum of G.
 */
function im2colConv(s: Spec, x: Float32Array, w: Float32Array, b: Float32Array | null, g: Float64Array | null) {
  const [N, C, H, W] = s.x as [number, number, number, number];
  const [O, Cg, KH, KW] = s.w as [number, number, number, number];
  const G = s.groups ?? 1;
  const [sh, sw] = pair(s.stride, 1);
  const [ph, pw] = pair(s.padding, 0);
  const [dh, dw] = pair(s.dilation, 1);
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const Og = O / G;
  const K = Cg * KH * KW;
  const M = N * OH * OW;
  const y = new Float64Array(N * O * OH * OW);
  const dx = new Float64Array(x.length);
  const dwt = new Float64Array(w.length);
  const db = new Float64Array(O);
  for (let grp = 0; grp < G; grp++) {
    // src[k*M + m]: index into x of tap k at output pixel m, or -1 in the padding.
    const src = new Int32Array(K * M).fill(-1);
    for (let c = 0; c < Cg; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const k = (c * KH + kh) * KW + kw;
      for (let n = 0; n < N; n++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
        const ih = oh * sh - ph + kh * dh;
        const iw = ow * sw - pw + kw * dw;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) src[k * M + (n * OH + oh) * OW + ow] = ((n * C + grp * Cg + c) * H + ih) * W + iw;
      }
    }
    for (let oc = grp * Og; oc < (grp + 1) * Og; oc++) {
      for (let m = 0; m < M; m++) {
        const n = Math.floor(m / (OH * OW));
        const yi = (n * O + oc) * OH * OW + (m % (OH * OW));
        let acc = b ? b[oc]! : 0;
        for (let k = 0; k < K; k++) {
          const xi = src[k * M + m]!;
          if (xi < 0) continue;
          acc += w[oc * K + k]! * x[xi]!;
          if (g) {
            dwt[oc * K + k] += g[yi]! * x[xi]!;
            dx[xi] += w[oc * K + k]! * g[yi]!;
          }
        }
        y[yi] = acc;
        if (g) db[oc] += g[yi]!;
      }
    }
  }
  return { y, dx, dw: dwt, db, outShape: [N, O, OH, OW] };
}

function run(s: Spec, seed: number) {
  const x = values(s.x.reduce((a, b) => a * b), seed);
  const w = values(s.w.reduce((a, b) => a * b), seed + 1);
  const b = s.bias ? values(s.w[0]!, seed + 2) : null;
  const opts = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
  const shape = im2colConv(s, x, w, b, null).outShape;
  const g = Float64Array.from(values(shape.reduce((p, q) => p * q), seed + 3));
  const want = im2colConv(s, x, w, b, g);
  const xt = tensor(x, s.x);
  const wt = tensor(w, s.w);
  const bt = b ? tensor(b, [s.w[0]!]) : null;
  const inputs = bt ? [xt, wt, bt] : [xt, wt];
  const { value, grads } = o.valueAndGrad((...t: Tensor[]) => o.conv2d(t[0]!, t[1]!, { ...opts, bias: t[2] ?? null }), inputs, { seed: tensor(g, shape) });
  return { want, value, grads };
}

const SPECS: [string, Spec][] = [
  ['3x3 pad 1, 100 output channels (two row tiles), 2x9x11 pixels (several pixel tiles), bias', { x: [2, 3, 9, 11], w: [100, 3, 3, 3], padding: 1, bias: true }],
  ['stride 2 pad 1, batch 1, odd 7x9, channels 5 -> 6', { x: [1, 5, 7, 9], w: [6, 5, 3, 3], stride: 2, padding: 1 }],
  ['groups 3, dilation 2, pad 2', { x: [3, 6, 8, 8], w: [6, 2, 3, 3], groups: 3, dilation: 2, padding: 2, bias: true }],
  ['depthwise with multiplier 2, 5x5 kernel, stride 2', { x: [2, 4, 6, 6], w: [8, 1, 5, 5], groups: 4, padding: 2, stride: 2 }],
  ['1x1 (plain GEMM)', { x: [2, 8, 5, 5], w: [16, 8, 1, 1] }],
  ['1x1 stride 2 with bias', { x: [2, 6, 7, 7], w: [5, 6, 1, 1], stride: 2, bias: true }],
  ['100 input channels (two channel tiles in dX, seven channel blocks per tap in dW)', { x: [2, 100, 4, 4], w: [5, 100, 3, 3], padding: 1 }],
  ['5x5 kernel larger than the 3x3 input, pad 2', { x: [1, 2, 3, 3], w: [3, 2, 5, 5], padding: 2, bias: true }],
  ['3x2 kernel, stride [2,3], padding [0,1], dilation [2,1]', { x: [2, 3, 9, 10], w: [4, 3, 3, 2], stride: [2, 3], padding: [0, 1], dilation: [2, 1], bias: true }],
  ['strip input gradient: 2 groups of 2 channels, 21 wide (a full and a partial strip), 3x5 kernel', { x: [2, 4, 5, 21], w: [6, 2, 3, 5], groups: 2, padding: [1, 2], bias: true }],
  ['split-K weight gradient over 4x16x16 pixels', { x: [4, 3, 16, 16], w: [8, 3, 3, 3], padding: 1, bias: true }],
];

describe('conv2d', () => {
  it('computes a hand-worked 2x2 convolution with bias', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const y = o.conv2d(x, w, { bias: tensor([10]) });
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expectClose(await y.read(), [47, 57, 77, 87]);
  });

  it('pads with zeros and strides: 3x3 ones, stride 2, padding 1 sums the covered pixels', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const y = o.conv2d(x, tensor(new Array(9).fill(1), [1, 1, 3, 3]), { stride: 2, padding: 1 });
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expectClose(await y.read(), [12, 16, 24, 28]);
  });

  it.each(SPECS)('forward and all gradients match im2col + matmul in float64: %s', async (_, s) => {
    const { want, value, grads } = run(s, s.x.length * 7 + s.w[0]!);
    expect(value.shape).toEqual(want.outShape);
    // float32 sums of up to ~600 products of values in [-1, 1): errors stay far below 1e-4.
    expectClose(await value.read(), want.y, 1e-4, 1e-4, 'y');
    expectClose(await grads[0]!.read(), want.dx, 1e-4, 1e-4, 'dx');
    expectClose(await grads[1]!.read(), want.dw, 1e-4, 1e-4, 'dw');
    if (s.bias) expectClose(await grads[2]!.read(), want.db, 1e-4, 1e-4, 'db');
  });

  it('every per-thread block the kernels are built for, and several splits, give the same result (13 channels, stride 2, odd sizes)', async () => {
    const d = dev();
    const s: Spec = { x: [2, 13, 9, 7], w: [13, 13, 3, 3], stride: 2, padding: 1, bias: true };
    const geo: ConvGeometry = { N: 2, C: 13, H: 9, W: 7, O: 13, OH: 5, OW: 4, KH: 3, KW: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 };
    const xv = values(2 * 13 * 9 * 7, 21);
    const wv = values(13 * 13 * 9, 22);
    const bv = values(13, 23);
    const gv = Float64Array.from(values(2 * 13 * 5 * 4, 24));
    const want = im2colConv(s, xv, wv, bv, gv);
    const [x, w, b, g] = [tensor(xv, s.x), tensor(wv, s.w), tensor(bv, [13]), tensor(gv, want.outShape)];
    for (const block of CONV_BLOCKS) {
      const { rows, cols4 } = block;
      const y = empty(d, want.outShape);
      const dx = empty(d, s.x);
      const dw = empty(d, s.w);
      runConv2dForward(d, x.storage.binding(), w.storage.binding(), b.storage.binding(), y.storage.binding(), geo, 'none', { kernel: 'blocked', block });
      runConv2dInputGrad(d, g.storage.binding(), w.storage.binding(), dx.storage.binding(), geo, { kernel: 'blocked', block });
      const plan = weightGradPlan(geo, block, rows);
      const part = plan.chunks > 1 ? empty(d, [plan.partialSize]) : null;
      runConv2dWeightGrad(d, x.storage.binding(), g.storage.binding(), part?.storage.binding() ?? null, dw.storage.binding(), geo, plan);
      const what = `block ${rows}x${4 * cols4}, ${plan.chunks} chunks`;
      expectClose(await y.read(), want.y, 1e-4, 1e-4, `y, ${what}`);
      expectClose(await dx.read(), want.dx, 1e-4, 1e-4, `dx, ${what}`);
      expectClose(await dw.read(), want.dw, 1e-4, 1e-4, `dw, ${what}`);
    }
    // The taps weight-gradient kernel (chosen for these 13 channels) at each of its row counts, whole and split.
    const auto = weightGradPlan(geo);
    expect(auto.kernel).toBe('taps');
    for (const rows of [4, 8, 16]) {
      for (const chunks of [1, 3]) {
        const forced = weightGradPlan(geo, undefined, chunks);
        const plan = { ...forced, block: { rows, cols4: 1 } };
        const dw = empty(d, s.w);
        const part = plan.chunks > 1 ? empty(d, [plan.partialSize]) : null;
        runConv2dWeightGrad(d, x.storage.binding(), g.storage.binding(), part?.storage.binding() ?? null, dw.storage.binding(), geo, plan);
        expectClose(await dw.read(), want.dw, 1e-4, 1e-4, `dw, taps kernel, ${rows} rows, ${plan.chunks} chunks`);
      }
    }
  });

  it('under a register budget (a GPU) the blocks keep at most that many outputs per thread; lavapipe has none', () => {
    for (const [rows, cols] of [[32, 12544], [64, 8192], [160, 131072], [3, 100], [16, 9]] as const) {
      const b = chooseConvBlock(rows, cols, 1, true, 128);
      expect(b.rows * 4 * b.cols4, `${rows}x${cols}`).toBeLessThanOrEqual(128);
      const u = chooseConvBlock(rows, cols, 1, true);
      expect(CONV_BLOCKS).toContainEqual(u);
    }
    expect(chooseConvBlock(64, 8192, 1, true)).toEqual({ rows: 16, cols4: 4 });
    const plan = weightGradPlan({ N: 8, C: 64, H: 32, W: 32, O: 64, OH: 32, OW: 32, KH: 3, KW: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 }, undefined, undefined, 128);
    expect(plan.block.rows * 4 * plan.block.cols4).toBeLessThanOrEqual(128);
    // The taps kernel (3 input channels) keeps rows x 9 taps within the budget too.
    const taps = weightGradPlan({ N: 8, C: 3, H: 32, W: 32, O: 64, OH: 32, OW: 32, KH: 3, KW: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 }, undefined, undefined, 128);
    expect(taps.kernel).toBe('taps');
    expect(taps.block.rows * 9).toBeLessThanOrEqual(128);
    for (const [M, N] of [[1024, 1024], [8, 512], [512, 8]] as const) {
      const m = chooseBlock(M, N, 128);
      expect(m.rows * 4 * m.cols4, `matmul ${M}x${N}`).toBeLessThanOrEqual(128);
    }
    expect(chooseBlock(1024, 1024)).toEqual({ rows: 12, cols4: 4 });
    expect(dev().maxOutputsPerThread).toBe(dev().info.fallback ? Infinity : 128);
  });

  it('the split-K case really splits, and its weight gradient is bit-identical from run to run', async () => {
    const s = SPECS[SPECS.length - 1]![1];
    const plan = weightGradPlan({ N: 4, C: 3, H: 16, W: 16, O: 8, OH: 16, OW: 16, KH: 3, KW: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 });
    expect(plan.chunks).toBeGreaterThan(1);
    const a = await run(s, 5).grads[1]!.read();
    const b = await run(s, 5).grads[1]!.read();
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('does only the gradient work asked for: no weight-gradient kernel for d/dx, no input-gradient kernel for d/dw', () => {
    const d = dev();
    const x = tensor(values(2 * 3 * 6 * 6, 1), [2, 3, 6, 6]);
    const w = tensor(values(4 * 3 * 3 * 3, 2), [4, 3, 3, 3]);
    const b = tensor(values(4, 3), [4]);
    w.requiresGrad = true;
    b.requiresGrad = true;
    const seen: string[] = [];
    const orig = d.run.bind(d);
    d.run = (k: Kernel, opts: Parameters<typeof orig>[1]) => { seen.push(k.name); orig(k, opts); };
    try {
      o.grad((t) => o.sum(o.conv2d(t, w, { bias: b, padding: 1 })), [x]);
      expect(seen.some((n) => n.startsWith('conv2d_dx'))).toBe(true);
      expect(seen.filter((n) => n.startsWith('conv2d_dw'))).toEqual([]);
      seen.length = 0;
      o.grad((t) => o.sum(o.conv2d(x, t, { padding: 1 })), [w]);
      expect(seen.some((n) => n.startsWith('conv2d_dw'))).toBe(true);
      expect(seen.filter((n) => n.startsWith('conv2d_dx'))).toEqual([]);
    } finally {
      d.run = orig;
    }
  });

  it("activation: 'relu' equals relu(conv2d + bias), and its gradients pass only where the output is positive", async () => {
    const s: Spec = { x: [2, 3, 6, 7], w: [5, 3, 3, 3], padding: 1, stride: [1, 2], bias: true };
    const x = tensor(values(2 * 3 * 6 * 7, 11), s.x);
    const w = tensor(values(5 * 27, 12), s.w);
    const b = tensor(values(5, 13), [5]);
    const fused = o.valueAndGrad((xx, ww, bb) => o.sum(o.square(o.conv2d(xx!, ww!, { bias: bb, padding: 1, stride: [1, 2], activation: 'relu' }))), [x, w, b]);
    const plain = o.valueAndGrad((xx, ww, bb) => o.sum(o.square(o.maximum(o.conv2d(xx!, ww!, { bias: bb, padding: 1, stride: [1, 2] }), 0))), [x, w, b]);
    const y = await o.conv2d(x, w, { bias: b, padding: 1, stride: [1, 2], activation: 'relu' }).read();
    const ref = im2colConv(s, await x.read() as Float32Array, await w.read() as Float32Array, await b.read() as Float32Array, null).y.map((v) => Math.max(v, 0));
    expectClose(y, ref, 1e-5, 1e-4, 'relu(y)');
    expect(Array.from(y).some((v) => v === 0) && Array.from(y).some((v) => v > 0)).toBe(true);
    expectClose(await fused.value.read(), await plain.value.read(), 1e-4, 1e-5, 'loss');
    for (let i = 0; i < 3; i++) expectClose(await fused.grads[i]!.read(), await plain.grads[i]!.read(), 1e-4, 1e-4, `grad ${i}`);
  });

  it('rejects inconsistent shapes and arguments, naming the op, the argument and both values', () => {
    const x = tensor(values(2 * 6 * 5 * 5, 1), [2, 6, 5, 5]);
    expect(() => o.conv2d(x, tensor(values(4 * 4 * 3 * 3, 2), [4, 4, 3, 3]))).toThrow(/conv2d: weight \[4, 4, 3, 3\] expects 4\*groups = 4 input channels, x \[2, 6, 5, 5\] has 6/);
    expect(() => o.conv2d(x, tensor(values(4 * 2 * 3 * 3, 2), [4, 2, 3, 3]), { groups: 4 })).toThrow(/input channels 6 .* not divisible by groups=4/);
    expect(() => o.conv2d(x, tensor(values(5 * 3 * 3 * 3, 2), [5, 3, 3, 3]), { groups: 2 })).toThrow(/output channels 5 .* not divisible by groups=2/);
    const w = tensor(values(4 * 6 * 3 * 3, 2), [4, 6, 3, 3]);
    expect(() => o.conv2d(x, w, { bias: tensor([1, 2, 3]) })).toThrow(/bias must have shape \[4\].*got \[3\]/);
    expect(() => o.conv2d(x, w, { stride: 0 })).toThrow(/conv2d: stride must be an integer >= 1/);
    expect(() => o.conv2d(x, w, { padding: -1 })).toThrow(/conv2d: padding must be an integer >= 0/);
    expect(() => o.conv2d(x, w, { dilation: 3 })).toThrow(/padded input 5x5 .* smaller than the dilated kernel 7x7/);
    expect(() => o.conv2d(tensor(values(30, 1), [6, 5]), w)).toThrow(/x must be 4-D \[N, C, H, W\], got shape \[6, 5\]/);
  });

  // 64x64 k8 (4x4 outputs per thread, half the threads idle while fetching) and 128x128 k16 (8x8): one pipeline per
  // pass and tile, the geometries only change the params.
  const TILED: [string, Spec][] = [
    ['13 channels, stride 2, odd 9x7', { x: [2, 13, 9, 7], w: [13, 13, 3, 3], stride: 2, padding: 1, bias: true }],
    ['groups 3, dilation 2, pad 2', { x: [3, 6, 8, 8], w: [6, 2, 3, 3], groups: 3, dilation: 2, padding: 2, bias: true }],
    ['depthwise multiplier 2, 5x5 kernel, stride 2', { x: [2, 4, 6, 6], w: [8, 1, 5, 5], groups: 4, padding: 2, stride: 2, bias: true }],
    ['1x1 stride 2 (a phase no tap reaches)', { x: [2, 6, 7, 7], w: [5, 6, 1, 1], stride: 2, bias: true }],
    ['3x2 kernel, stride [2,3], padding [0,1], dilation [2,1]', { x: [2, 3, 9, 10], w: [4, 3, 3, 2], stride: [2, 3], padding: [0, 1], dilation: [2, 1], bias: true }],
    ['stride 2 dilation 2 (every other tap per phase)', { x: [1, 3, 9, 9], w: [3, 3, 3, 3], stride: 2, dilation: 2, padding: 2, bias: true }],
    ['70 output channels, 130 pixels, K 288 (several tiles and steps)', { x: [2, 32, 8, 9], w: [70, 32, 3, 3], padding: 1, bias: true }],
  ];
  for (const tile of [{ tm: 4, tn4: 1, bk: 8 }, { tm: 8, tn4: 2, bk: 16 }]) {
    it(`the tiled kernels (${16 * tile.tm}x${64 * tile.tn4} k${tile.bk}) match im2col + matmul: forward, input gradient, weight gradient whole and split`, async () => {
      const d = dev();
      for (const [name, s] of TILED) {
        const [N, C, H, W] = s.x as [number, number, number, number];
        const [O, , KH, KW] = s.w as [number, number, number, number];
        const [sh, sw] = pair(s.stride, 1);
        const [ph, pw] = pair(s.padding, 0);
        const [dh, dw] = pair(s.dilation, 1);
        const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
        const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
        const geo: ConvGeometry = { N, C, H, W, O, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, groups: s.groups ?? 1 };
        const xv = values(N * C * H * W, 31);
        const wv = values(s.w.reduce((a, b) => a * b), 32);
        const bv = values(O, 33);
        const gv = Float64Array.from(values(N * O * OH * OW, 34));
        const want = im2colConv(s, xv, wv, bv, gv);
        const [x, w, b, g] = [tensor(xv, s.x), tensor(wv, s.w), tensor(bv, [O]), tensor(gv, want.outShape)];
        const y = empty(d, want.outShape);
        const dx = empty(d, s.x);
        runConv2dForward(d, x.storage.binding(), w.storage.binding(), b.storage.binding(), y.storage.binding(), geo, 'none', { kernel: 'tiled', tile });
        runConv2dInputGrad(d, g.storage.binding(), w.storage.binding(), dx.storage.binding(), geo, { kernel: 'tiled', tile });
        expectClose(await y.read(), want.y, 1e-4, 1e-4, `y, ${name}`);
        expectClose(await dx.read(), want.dx, 1e-4, 1e-4, `dx, ${name}`);
        for (const chunks of [1, 3]) {
          const plan = tiledWeightGradPlan(geo, tile, chunks);
          if (chunks > 1) expect(plan.chunks, `${name}: the split`).toBeGreaterThan(1);
          const dwt = empty(d, s.w);
          const part = plan.chunks > 1 ? empty(d, [plan.partialSize]) : null;
          runConv2dWeightGrad(d, x.storage.binding(), g.storage.binding(), part?.storage.binding() ?? null, dwt.storage.binding(), geo, plan);
          expectClose(await dwt.read(), want.dw, 1e-4, 1e-4, `dw, ${name}, ${plan.chunks} chunks`);
        }
      }
    });
  }

  it('forced for the process (setKernelChoice), the tiled passes pass the conv2d and conv2d_relu audits and the reference cases; they are what ran', async () => {
    const d = dev();
    const seen = new Set<string>();
    const orig = d.run.bind(d);
    d.run = (k: Kernel, opts: Parameters<typeof orig>[1]) => { seen.add(k.name); orig(k, opts); };
    const choice = { variant: 'tiled', tile: { tm: 4, tn4: 1, bk: 8 } } as const;
    for (const op of ['conv2d_fwd', 'conv2d_dx', 'conv2d_dw'] as const) setKernelChoice(op, choice);
    try {
      for (const row of await runAudit(d, { ops: ['conv2d', 'conv2d_relu'] })) expect(row.failures, `${row.op}: ${row.failures.join('\n')}`).toEqual([]);
      const cases = await runCaseFiles(d, [join(import.meta.dirname, '..', '..', 'cases', 'conv2d.json')]);
      expect(cases.filter((c) => c.status !== 'pass').map((c) => `${c.case}: ${c.status} ${c.detail}`)).toEqual([]);
      expect(cases.length).toBeGreaterThan(15);
    } finally {
      for (const op of ['conv2d_fwd', 'conv2d_dx', 'conv2d_dw'] as const) setKernelChoice(op, null);
      d.run = orig;
    }
    // the audit's f16-mixed rows ran the f16-operand variants of the same tiled kernels
    const tiled = ['conv2d_dw_tiled', 'conv2d_dx_tiled', 'conv2d_fwd_tiled'];
    expect([...seen].filter((n) => n.startsWith('conv2d')).sort()).toEqual(d.hasF16 ? tiled.flatMap((n) => [n, `${n}_f16`]) : tiled);
  });
});
