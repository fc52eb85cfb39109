/**
 * Mixed precision (engine/precision.ts): float16 storage (engine/half.ts, cast_f16.wgsl), the f16-operand
 * variants of the matmul and convolution kernels (kernels/half_inputs.ts), and the ops under
 * withPrecision('f16-mixed'). f16 products are exact in f32 and the accumulation order is the float32
 * kernel's, so each f16 kernel must give what its float32 kernel gives on the f16-rounded operands.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor, zeros } from '../../engine/create.js';
import { halfBits, halfRound, halfValue } from '../../engine/half.js';
import { withPrecision } from '../../engine/precision.js';
import { scope } from '../../engine/scope.js';
import { copyInto } from '../../engine/inplace.js';
import { grad, valueAndGrad } from '../../engine/autodiff.js';
import * as o from '../../engine/ops/index.js';
import { setKernelChoice, QUICK_TILE, type KernelChoice, type KernelOp } from '../../kernels/choice.js';
import { withHalfInputs } from '../../kernels/half_inputs.js';
import type { Tensor } from '../../engine/tensor.js';

const dev = useDevice();
afterEach(() => { for (const op of ['matmul', 'conv2d_fwd', 'conv2d_dx', 'conv2d_dw'] as KernelOp[]) setKernelChoice(op, null); });

function values(n: number, seed: number, scale = 1): number[] {
  let s = seed;
  return Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return (s / 2147483648 - 0.5) * 2 * scale; });
}

const CHOICES: [string, KernelChoice][] = [['register-blocked', { variant: 'default' }], ['tiled', { variant: 'tiled', tile: QUICK_TILE }]];

describe('float16 storage', () => {
  it('rounds to nearest even on the CPU: ties, the largest half, overflow, subnormals, signed zero', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 1], [1 + 3 * 2 ** -11, 1 + 2 ** -9], [65504, 65504], [65519, 65504], [65520, Infinity], [-1e6, -Infinity],
      [2 ** -24, 2 ** -24], [1.5 * 2 ** -24, 2 ** -23], [2 ** -25, 0], [2 ** -25 * 1.01, 2 ** -24], [6.1035156e-5, 2 ** -14], [-0, -0], [0.1, 0.0999755859375],
    ];
    for (const [x, want] of cases) expect(halfRound(x), `half(${x})`).toBe(want);
    expect(Number.isNaN(halfValue(halfBits(NaN)))).toBe(true);
    // every finite half round-trips
    for (let h = 0; h < 0x7c00; h += 7) expect(halfBits(halfValue(h))).toBe(h);
  });

  it('the GPU cast rounds exactly as the CPU, with overflow to Infinity, and reads back through float32', async () => {
    const xs = [...values(999, 3, 10), 1 + 2 ** -11, 65519, 65520, -7e4, 2 ** -25 * 1.01, 3e-8, -0, 0.1];
    const x = tensor(xs);
    const h = o.toFloat16(x);
    expect(h.dtype).toBe('float16');
    expect(h.storage.bytes, 'two halves to a word, the odd count padded').toBe(Math.ceil(xs.length / 2) * 4);
    expect(Array.from(await h.read())).toEqual(xs.map(halfRound));
    const back = o.toFloat32(h);
    expect(Array.from(await back.read())).toEqual(xs.map(halfRound));
    const up = tensor(xs, [xs.length], { dtype: 'float16' });
    expect(Array.from(await up.read()), 'an upload rounds the same way').toEqual(xs.map(halfRound));
    for (const t of [x, h, back, up]) t.dispose();
  });

  it('other ops refuse float16 inputs, naming the op and what to do', () => {
    const h = zeros([4], { dtype: 'float16' });
    const f = zeros([4]);
    expect(() => o.add(h, f)).toThrow(/add: input 0 is float16 .*cast it to float32 first/);
    expect(() => o.slice(h, 0, 0, 2)).toThrow(/slice: input 0 is float16/);
    expect(o.reshape(h, [2, 2]).shape, 'a view is fine').toEqual([2, 2]);
    for (const t of [h, f]) t.dispose();
  });

  it('the source transform names a missing binding and converts every read', () => {
    const src = '@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;\nfn f(i: u32) -> f32 { return a[a4_i(i)] + a4[i].x; } // a[9] in a comment';
    const out = withHalfInputs(src, ['a', 'a4'], 't');
    expect(out).toContain('enable f16;');
    expect(out).toContain('var<storage, read> a: array<f16>');
    expect(out).toContain('var<storage, read> a4: array<vec4<f16>>');
    expect(out).toContain('f32(a[a4_i(i)])');
    expect(out).toContain('vec4<f32>(a4[i]).x');
    expect(out).not.toContain('a[9]');
    expect(() => withHalfInputs(src, ['b'], 't')).toThrow(/kernel 't': no read-only f32 binding 'b'/);
  });
});

/** Runs f at f16-mixed and at float32 on the f16-rounded inputs; both results and gradients must agree. */
async function sameAsRounded(name: string, inputs: Tensor[], f: (xs: Tensor[]) => Tensor, rtol = 1e-6): Promise<void> {
  const rounded = inputs.map((t) => scope(() => o.toFloat32(o.toFloat16(t))));
  const run = (xs: Tensor[], half: boolean) => scope(() => {
    const fn = () => {
      const y = f(xs);
      // the cotangent is f16-exact, so casting it in the backward loses nothing
      const w = tensor(values(y.size, 7).map(halfRound), y.shape);
      const { value, grads } = valueAndGrad((...ts: Tensor[]) => o.sum(o.mul(f(ts), w)), xs);
      return { y, value, grads };
    };
    return half ? withPrecision('f16-mixed', fn) : fn();
  });
  const a = run(inputs, true);
  const b = run(rounded, false);
  expectClose(await a.y.read(), await b.y.read(), 1e-6, rtol, `${name}: forward`);
  for (let i = 0; i < inputs.length; i++) expectClose(await a.grads[i]!.read(), await b.grads[i]!.read(), 1e-5, 1e-5, `${name}: gradient of input ${i}`);
  for (const t of [...rounded, a.y, a.value, ...a.grads, b.y, b.value, ...b.grads]) t.dispose();
}

describe('f16-mixed matmul and conv2d', () => {
  for (const [label, choice] of CHOICES) {
    it(`matmul (${label}): the f16 kernel gives the float32 kernel's result on rounded operands, forward and backward`, async () => {
      setKernelChoice('matmul', choice);
      for (const [M, K, N] of [[5, 7, 9], [16, 32, 12], [33, 20, 64]] as const) {
        const a = tensor(values(M * K, M + K), [M, K]);
        const b = tensor(values(K * N, K + N), [K, N]);
        await sameAsRounded(`matmul ${M}x${K}x${N}`, [a, b], ([p, q]) => o.matmul(p!, q!));
        await sameAsRounded(`matmul ${M}x${K}x${N} B^T`, [a, tensor(values(K * N, 5), [N, K])], ([p, q]) => o.matmul(p!, q!, { transB: true }));
        a.dispose();
        b.dispose();
      }
    });

    it(`conv2d (${label}): forward, input and weight gradient with f16 operands match float32 on rounded operands`, async () => {
      for (const op of ['conv2d_fwd', 'conv2d_dx', 'conv2d_dw'] as KernelOp[]) setKernelChoice(op, choice);
      const shapes: [number[], number[], { stride?: number; padding?: number; groups?: number }][] = [
        [[2, 3, 9, 9], [8, 3, 3, 3], { padding: 1 }],
        [[3, 4, 8, 7], [6, 2, 3, 3], { stride: 2, groups: 2 }],
        [[2, 8, 5, 5], [16, 8, 1, 1], {}],
      ];
      for (const [xs, ws, opts] of shapes) {
        const x = tensor(values(xs.reduce((p, q) => p * q), 11), xs);
        const w = tensor(values(ws.reduce((p, q) => p * q), 13, 0.5), ws);
        const bias = tensor(values(ws[0]!, 17), [ws[0]!]);
        await sameAsRounded(`conv2d x${JSON.stringify(xs)} w${JSON.stringify(ws)}`, [x, w], ([p, q]) => o.conv2d(p!, q!, { ...opts, bias }));
        for (const t of [x, w, bias]) t.dispose();
      }
    });
  }

  it('casts a weight once per withPrecision call, and again after an in-place write; activations every time', async () => {
    const d = dev();
    const x = tensor(values(2 * 3 * 6 * 6, 3), [2, 3, 6, 6]);
    const w = tensor(values(4 * 3 * 9, 4), [4, 3, 3, 3]);
    w.requiresGrad = true;
    const w2 = tensor(values(4 * 3 * 9, 5), [4, 3, 3, 3]);
    const casts: string[] = [];
    const orig = d.run.bind(d);
    d.run = (k, opts) => { if (k.name === 'cast_f16') casts.push(opts.overrides?.TO_HALF === false ? 'up' : 'down'); orig(k, opts); };
    const live = d.stats().liveTensors;
    try {
      const ys = withPrecision('f16-mixed', () => {
        const a = o.conv2d(x, w);
        const b = o.conv2d(x, w);
        expect(casts.length, 'x twice, w once').toBe(3);
        copyInto(w, w2);
        const c = o.conv2d(x, w);
        expect(casts.length, 'w again after its update').toBe(5);
        return [a, b, c];
      });
      expectClose(await ys[0]!.read(), await ys[1]!.read(), 0, 0, 'the same weight gives the same result');
      expect(Array.from(await ys[2]!.read())).not.toEqual(Array.from(await ys[0]!.read()));
      for (const t of ys) t.dispose();
    } finally {
      d.run = orig;
    }
    expect(d.stats().liveTensors, 'the cached copies go with the call').toBe(live);
    for (const t of [x, w, w2]) t.dispose();
  });

  it('saves the f16 copies for the backward, and records at float32 again after withPrecision', async () => {
    const x = tensor(values(2 * 3 * 6 * 6, 1), [2, 3, 6, 6]);
    const w = tensor(values(4 * 3 * 9, 2), [4, 3, 3, 3]);
    const live = dev().stats().liveBytes;
    const f32 = { grads: scope(() => grad((p: Tensor) => o.sum(o.conv2d(p, w)), [x])) };
    expect(() => withPrecision('f16-mixed', () => Promise.resolve(1))).toThrow(/must be synchronous/);
    const halfY = withPrecision('f16-mixed', () => o.conv2d(x, w));
    const plainY = o.conv2d(x, w);
    expect(Array.from(await halfY.read())).not.toEqual(Array.from(await plainY.read()));
    for (const t of [...f32.grads, halfY, plainY]) t.dispose();
    expect(dev().stats().liveBytes).toBe(live);
    for (const t of [x, w]) t.dispose();
  });
});
