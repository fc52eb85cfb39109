/**
 * Reverse-mode autodiff: a 2-layer MLP's gradients against central finite differences of the engine's
 * own forward and against PyTorch (test/cases/mlp2.json), fan-out accumulation, grad mode, targeted
 * gradients that skip parameter work, accumulation into .grad, deep graphs, and the error messages.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import { isGradEnabled, noGrad } from '../../engine/tape.js';
import { defineOp } from '../../engine/op.js';
import { ref } from '../../engine/ref/tensor.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Kernel } from '../../kernels/kernel.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

function lcgValues(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.fround((s / 2 ** 32 * 2 - 1) * scale);
  });
}

const NAMES = ['x', 'w1', 'b1', 'w2', 'b2'] as const;
type Name = (typeof NAMES)[number];
type Host = Record<Name | 't', { shape: number[]; data: number[] }>;

/** mean((relu(x @ w1^T + b1) @ w2^T + b2 - t)^2), the fixture's op "mlp2". */
function mlp2(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, t: Tensor): Tensor {
  return scope(() => {
    const h = o.maximum(o.add(o.matmul(x, w1, { transB: true }), b1), 0);
    return o.mean(o.square(o.sub(o.add(o.matmul(h, w2, { transB: true }), b2), t)));
  });
}

/** Uploads host values, runs f on them, and disposes the uploads. */
function withTensors<T>(h: Host, f: (ts: Record<Name | 't', Tensor>) => T): T {
  return scope(() => f(Object.fromEntries(Object.entries(h).map(([k, v]) => [k, tensor(v.data, v.shape)])) as Record<Name | 't', Tensor>));
}

/** Engine gradients of mlp2 with respect to x, w1, b1, w2, b2, and the loss. */
async function engineGrads(h: Host): Promise<{ loss: number; grads: Record<Name, Float32Array> }> {
  const { value, grads } = withTensors(h, (ts) => o.valueAndGrad((x, w1, b1, w2, b2) => mlp2(x!, w1!, b1!, w2!, b2!, ts.t), NAMES.map((n) => ts[n])));
  const loss = await value.item();
  const out = {} as Record<Name, Float32Array>;
  for (const [i, n] of NAMES.entries()) out[n] = (await grads[i]!.read()) as Float32Array;
  value.dispose();
  for (const g of grads) g.dispose();
  return { loss, grads: out };
}

describe('MLP gradients', () => {
  // x [4,3], w1 [5,3], b1 [5], w2 [2,5], b2 [2], t [4,2].
  const host: Host = {
    x: { shape: [4, 3], data: lcgValues(12, 101) }, w1: { shape: [5, 3], data: lcgValues(15, 202, 0.8) },
    b1: { shape: [5], data: lcgValues(5, 303, 0.3) }, w2: { shape: [2, 5], data: lcgValues(10, 404, 0.8) },
    b2: { shape: [2], data: lcgValues(2, 505, 0.3) }, t: { shape: [4, 2], data: lcgValues(8, 606) },
  };

  it('match central finite differences of the engine\'s own float32 forward', async () => {
    const H = 1e-2;
    // Precondition: no relu input is within reach of its kink. A step of H on any single input moves a
    // pre-activation by at most H * max(|x|, |w1|, 1) <= H, so a margin above H keeps every difference
    // inside one linear piece. Both relu branches occur, so both are checked.
    const pre: number[] = [];
    for (let n = 0; n < 4; n++) for (let j = 0; j < 5; j++) {
      let z = host.b1.data[j]!;
      for (let k = 0; k < 3; k++) z += host.x.data[n * 3 + k]! * host.w1.data[j * 3 + k]!;
      pre.push(z);
    }
    expect(Math.min(...pre.map(Math.abs)), 'relu margin').toBeGreaterThan(2 * H);
    expect(pre.some((z) => z > 0) && pre.some((z) => z < 0)).toBe(true);

    const { grads } = await engineGrads(host);
    // Every perturbed loss is computed first and read back once.
    const steps: { name: Name; i: number; step: number }[] = [];
    const losses = noGrad(() => scope(() => {
      const out: Tensor[] = [];
      for (const name of NAMES) {
        for (let i = 0; i < host[name].data.length; i++) {
          const v = host[name].data[i]!;
          const [up, down] = [Math.fround(v + H), Math.fround(v - H)];
          steps.push({ name, i, step: up - down });
          for (const w of [up, down]) {
            const h2 = { ...host, [name]: { shape: host[name].shape, data: host[name].data.map((u, j) => (j === i ? w : u)) } };
            out.push(o.reshape(withTensors(h2, (ts) => mlp2(ts.x, ts.w1, ts.b1, ts.w2, ts.b2, ts.t)), [1]));
          }
        }
      }
      return o.concat(out);
    }));
    const l = await losses.read();
    losses.dispose();
    // The loss is quadratic in any single input within one relu piece, so the central difference has no
    // truncation error; what remains is float32 rounding of a loss of size ~1 (a relative error of a few
    // 1e-7) divided by the step 2H = 0.02: about 1e-4. atol 1e-3 + rtol 1e-2 is comfortably above that and
    // far below the gradients' size (~0.1-1), so a wrong transpose, sign or missing 1/N would fail.
    for (const name of NAMES) {
      const fd = steps.map((s, k) => ({ ...s, k })).filter((s) => s.name === name).map((s) => (l[2 * s.k]! - l[2 * s.k + 1]!) / s.step);
      expectClose(grads[name], fd, 1e-3, 1e-2, `d loss / d ${name}`);
      expect(Math.max(...fd.map(Math.abs)), `${name} gradient is not all zero`).toBeGreaterThan(1e-2);
    }
  });

  it('match PyTorch on test/cases/mlp2.json (loss and every gradient)', async () => {
    type T = { shape: number[]; dtype: string; data: number[] };
    const file = JSON.parse(readFileSync(new URL('../cases/mlp2.json', import.meta.url), 'utf8')) as {
      cases: { name: string; op: string; inputs: Record<string, T>; outputs: Record<string, T>; gout: T | null; gout_for: string | null; grads: Record<string, T> }[];
    };
    const cases = file.cases.filter((c) => c.op === 'mlp2');
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      expect(c.gout_for).toBe('loss');
      expect(c.gout?.data).toEqual([1]);
      const h = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, { shape: v.shape, data: v.data }])) as Host;
      const { loss, grads } = await engineGrads(h);
      // The format's default tolerance: 1e-5 * max(1, max|ref|) + 1e-4 * |ref|.
      const tol = (want: number[]) => 1e-5 * Math.max(1, ...want.map(Math.abs));
      expectClose([loss], c.outputs.loss!.data, tol(c.outputs.loss!.data), 1e-4, `${c.name} loss`);
      expect(Object.keys(c.grads).sort()).toEqual([...NAMES].sort());
      for (const n of NAMES) {
        const want = c.grads[n]!;
        expect(want.shape, `${c.name} ${n} shape`).toEqual(h[n].shape);
        expectClose(grads[n], want.data, tol(want.data), 1e-4, `${c.name} d loss / d ${n}`);
      }
    }
  });
});

describe('tape semantics', () => {
  it('fan-out accumulates: d/dx sum(x*x + x) = 2x + 1', async () => {
    const x = tensor([-2, 0.5, 3]);
    const [g] = o.grad((t) => o.sum(o.add(o.mul(t!, t!), t!)), [x]);
    expectClose(await g!.read(), [-3, 2, 7]);
    g!.dispose();
    x.dispose();
  });

  it('detach cuts the graph: d/dx sum(x * detach(x)) = x', async () => {
    const x = tensor([1.5, -2]);
    const [g] = o.grad((t) => o.sum(o.mul(t!, t!.detach())), [x]);
    expectClose(await g!.read(), [1.5, -2]);
    g!.dispose();
    x.dispose();
  });

  it('noGrad records nothing (no node, no saved tensors) and restores grad mode, even on throw', () => {
    const x = tensor([1, 2, 3]);
    x.requiresGrad = true;
    const before = dev().stats().liveTensors;
    const y = noGrad(() => o.mul(x, x));
    expect(y.node).toBeNull();
    expect(y.requiresGrad).toBe(false);
    expect(dev().stats().liveTensors, 'only the output, no saved aliases').toBe(before + 1);
    expect(() => o.sum(y).backward()).toThrow(/does not require grad/);
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    // With grad mode on, the same op does record.
    const z = o.mul(x, x);
    expect(z.node?.op).toBe('mul');
    for (const t of [x, y, z]) t.dispose();
  });

  it('grad(f, [x]) with trainable parameters computes no parameter gradients', async () => {
    const x = tensor(lcgValues(12, 1), [4, 3]);
    const t = tensor(lcgValues(8, 2), [4, 2]);
    const params = [tensor(lcgValues(15, 3), [5, 3]), tensor(lcgValues(5, 4), [5]), tensor(lcgValues(10, 5), [2, 5]), tensor(lcgValues(2, 6), [2])];
    for (const p of params) p.requiresGrad = true;
    const f = (xx: Tensor) => mlp2(xx, params[0]!, params[1]!, params[2]!, params[3]!, t);

    const matmuls = async (run: () => Promise<Float32Array>) => {
      const spy = vi.spyOn(dev(), 'run');
      try {
        const gx = await run();
        return { gx, count: spy.mock.calls.filter(([k]) => (k as Kernel).name === 'matmul').length, total: spy.mock.calls.length };
      } finally {
        spy.mockRestore();
      }
    };
    // d loss / d x only: forward (2 matmuls) + dh and dx (2). No dW1, dW2.
    const onlyX = await matmuls(async () => {
      const [g] = o.grad(f, [x]);
      const r = (await g!.read()) as Float32Array;
      g!.dispose();
      return r;
    });
    for (const p of params) expect(p.grad, 'parameters get no .grad').toBeNull();
    // Full backward for comparison: 2 forward + 4 backward matmuls.
    const all = await matmuls(async () => {
      x.requiresGrad = true;
      const loss = f(x);
      loss.backward();
      loss.dispose();
      return (await x.grad!.read()) as Float32Array;
    });
    expect(onlyX.count).toBe(4);
    expect(all.count).toBe(6);
    expect(onlyX.total).toBeLessThan(all.total);
    expectClose(onlyX.gx, all.gx, 1e-6, 1e-5, 'same d loss / d x');
    for (const p of [x, t, ...params]) p.dispose();
  });

  it('backward() accumulates into .grad across calls', async () => {
    const x = tensor([1, -2, 3]);
    x.requiresGrad = true;
    for (let k = 0; k < 2; k++) {
      const l = o.sum(o.mul(x, x)); // d/dx = 2x
      l.backward();
      l.dispose();
      expectClose(await x.grad!.read(), [1, -2, 3].map((v) => 2 * v * (k + 1)), 1e-6, 1e-6, `after backward ${k + 1}`);
    }
    x.dispose();
  });

  it('a second backward through the same graph throws clearly unless retainGraph was set', async () => {
    const x = tensor([1, 2]);
    x.requiresGrad = true;
    const y = o.exp(x);
    const l = o.sum(y);
    l.backward(undefined, { retainGraph: true });
    l.backward();
    expectClose(await x.grad!.read(), [2 * Math.E, 2 * Math.E ** 2], 1e-5, 1e-5, 'two backwards, retained');
    expect(() => l.backward()).toThrow(/backward through '(sum|exp)' a second time: its saved tensors were freed by the first backward/);
    for (const t of [x, y, l]) t.dispose();
  });

  it('a deep chain of 2000 ops differentiates without blowing the stack', async () => {
    const N = 2000;
    const [a, b] = [1.0005, 0.001];
    const x = tensor([1, -1]);
    const base = dev().stats().liveTensors;
    const { value, grads } = o.valueAndGrad((t) => {
      let y = t!;
      for (let i = 0; i < N; i++) y = o.scaleShift(y, a, b);
      return o.sum(y);
    }, [x]);
    // y_N = a^N x + b (a^N - 1) / (a - 1); d sum / dx = a^N. float32 over 2000 steps: ~1e-4 relative.
    const aN = a ** N;
    expectClose(await grads[0]!.read(), [aN, aN], 0, 1e-3, 'gradient');
    expectClose([await value.item()], [2 * b * (aN - 1) / (a - 1)], 1e-3, 1e-3, 'value');
    value.dispose();
    grads[0]!.dispose();
    expect(dev().stats().liveTensors, 'the 2000-node graph was freed').toBe(base);
    x.dispose();
  });

  it('an input the output does not depend on is an error naming it; allowUnused gives zeros', async () => {
    const [x, z] = [tensor([1, 2]), tensor([5, 6, 7])];
    expect(() => o.grad((a) => o.sum(o.square(a)), [x, z])).toThrow(/grad: the output does not depend on inputs\.1 \(tensor #\d+, float32 \[3\]\); pass allowUnused/);
    const [gx, gz] = o.grad((a) => o.sum(o.square(a!)), [x, z], { allowUnused: true });
    expectClose(await gz!.read(), [0, 0, 0]);
    expectClose(await gx!.read(), [2, 4]);
    for (const t of [x, z, gx!, gz!]) t.dispose();
  });

  it('an input reached only through a zero-gradient path gets true zeros without allowUnused', async () => {
    const x = tensor([1, -2]);
    const [g] = o.grad((a) => o.sum(o.mul(o.sign(a), 3)), [x]);
    expectClose(await g!.read(), [0, 0]);
    for (const t of [x, g!]) t.dispose();
  });
});

describe('gradients with respect to intermediate tensors (torch.autograd.grad on non-leaves)', () => {
  type T = { shape: number[]; data: number[] };
  const fx = JSON.parse(readFileSync(new URL('../fixtures/autodiff/intermediate_grads.json', import.meta.url), 'utf8')) as {
    inputs: Record<'x' | 'w' | 'b' | 'v', T>; loss: number; grads: Record<'h' | 's' | 'x' | 'w', T>;
  };
  const up = (t: T) => tensor(t.data, t.shape);

  it('match PyTorch for h and s (fan-out through both) and the leaves, asked together', async () => {
    const before = dev().stats().liveTensors;
    const [x, w, b, v] = [up(fx.inputs.x), up(fx.inputs.w), up(fx.inputs.b), up(fx.inputs.v)];
    x.requiresGrad = true;
    w.requiresGrad = true;
    const got = scope(() => {
      const h = o.tanh(o.add(o.matmul(x, w, { transB: true }), b));
      const s = o.add(o.mul(h, h), h);
      const loss = o.add(o.sum(o.matmul(s, o.reshape(v, [5, 1]))), o.sum(h));
      return { loss: loss.detach(), grads: o.gradOf([loss], [h, s, x, w]) };
    });
    expectClose([await got.loss.item()], [fx.loss], 1e-5, 1e-5, 'loss');
    const names = ['h', 's', 'x', 'w'] as const;
    for (const [i, n] of names.entries()) expectClose(await got.grads[i]!.read(), fx.grads[n].data, 1e-5, 1e-4, `d loss / d ${n}`);
    for (const t of [got.loss, ...got.grads, x, w, b, v]) t.dispose();
    expect(dev().stats().liveTensors, 'no leak').toBe(before);
  });

  it('grad(f, [h]) for an intermediate h made outside f, and parameters behind h get no gradient work', async () => {
    const [x, w, b, v] = [up(fx.inputs.x), up(fx.inputs.w), up(fx.inputs.b), up(fx.inputs.v)];
    w.requiresGrad = true;
    const h = o.tanh(o.add(o.matmul(x, w, { transB: true }), b));
    const loss = (hh: Tensor) => o.add(o.sum(o.matmul(o.add(o.mul(hh, hh), hh), o.reshape(v, [5, 1]))), o.sum(hh));
    const [gh] = o.grad(loss, [h]);
    expectClose(await gh!.read(), fx.grads.h.data, 1e-5, 1e-4, 'd loss / d h');
    expect(w.grad, 'w is behind h: no gradient').toBeNull();
    // The graph below h was not consumed: a later backward through it still works.
    o.sum(h).backward();
    expect(w.grad).not.toBeNull();
    for (const t of [gh!, h, x, w, b, v]) t.dispose();
  });

  it('an intermediate the output does not use is an error naming its op; allowUnused gives zeros', async () => {
    const x = tensor([1, 2]);
    x.requiresGrad = true;
    const h = o.exp(x);
    const y = o.sum(o.square(x));
    expect(() => o.gradOf([y], [h], { retainGraph: true })).toThrow(/does not depend on input 0 \(tensor #\d+, float32 \[2\], the output of 'exp'\)/);
    const [gh] = o.gradOf([y], [h], { allowUnused: true });
    expectClose(await gh!.read(), [0, 0]);
    for (const t of [x, h, y, gh!]) t.dispose();
  });

  it('an op with two outputs (var_mean): each output carries its own gradient, and both together add', async () => {
    const x = tensor([1, 2, 4, 8]);
    const gv = o.grad((t) => o.varMean(t).var, [x])[0]!;
    const gm = o.grad((t) => o.varMean(t).mean, [x])[0]!;
    const both = o.grad((t) => { const r = o.varMean(t); return o.add(r.var, o.mul(r.mean, 3)); }, [x])[0]!;
    // var (unbiased): mean 3.75, d/dx = 2 (x - 3.75) / 3; mean: 1/4 each.
    expectClose(await gv.read(), [1, 2, 4, 8].map((u) => (2 * (u - 3.75)) / 3));
    expectClose(await gm.read(), [0.25, 0.25, 0.25, 0.25]);
    expectClose(await both.read(), [1, 2, 4, 8].map((u) => (2 * (u - 3.75)) / 3 + 0.75));
    for (const t of [x, gv, gm, both]) t.dispose();
  });
});

describe('backward errors', () => {
  it('a seed of the wrong shape names both shapes', () => {
    const x = tensor([1, 2, 3]);
    x.requiresGrad = true;
    const y = o.mul(x, 2);
    const seed = tensor([1, 1]);
    expect(() => y.backward(seed)).toThrow(/seed shape \[2\] does not match the output shape \[3\]/);
    for (const t of [x, y, seed]) t.dispose();
  });

  it('a backward that returns a gradient of the wrong shape is caught, naming the op and both shapes', () => {
    const badOp = defineOp<Record<string, never>>({
      name: 'test_bad_backward',
      forward: ([x]) => o.clone(x!),
      backward: (g) => [o.sum(g, 0, true)], // [1] instead of [3]
      reference: { forward: ([x]) => ref(x!.shape, x!.data) },
      audit: [],
    });
    const x = tensor([1, 2, 3]);
    x.requiresGrad = true;
    const l = o.sum(badOp([x], {}));
    expect(() => l.backward()).toThrow(/backward of 'test_bad_backward': gradient for input 0 has shape \[1\], expected \[3\]/);
    expect(x.grad).toBeNull();
    l.dispose();
    x.dispose();
  });

  it('requiresGrad is refused on non-leaves and non-float tensors', () => {
    const x = tensor([1, 2]);
    x.requiresGrad = true;
    const y = o.mul(x, x);
    expect(() => { y.requiresGrad = false; }).toThrow(/only be set on leaf tensors.*'mul'/);
    const i = tensor(new Int32Array([1, 2]));
    expect(() => { i.requiresGrad = true; }).toThrow(/only float32 tensors can require grad.*int32/);
    for (const t of [x, y, i]) t.dispose();
  });
});
