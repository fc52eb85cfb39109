/**
 * The fused PGD steps: the audit (L-inf bit-exact against a float32 evaluation of the formula, L2 against a
 * float64 reference, on iterates exactly on the boundary, zero gradients, alpha > eps, pixels at 0 and 1,
 * batch 1, odd feature counts, per-example eps and alpha), the properties every attack relies on, the
 * per-example form against the scalar one, one dispatch per batch, and errors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose, expectSameBits } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { full, tensor } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import type { Tensor } from '../../../engine/tensor.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import { pgdLinfStep, pgdL2Step } from '../../../engine/ops/index.js';

const dev = useDevice();

function image(rng: CpuRandom, n: number): number[] {
  return Array.from({ length: n }, () => Math.fround(rng.next()));
}

describe('pgd_linf_step', () => {
  it('passes the audit bit-exactly (tolerance 0) on every edge case', async () => {
    const [row] = await runAudit(dev(), { ops: ['pgd_linf_step'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.tolerance).toEqual({ atol: 0, rtol: 0 });
    expect(row!.forward.maxAbs).toBe(0);
  });

  it('keeps every pixel inside the eps-ball and [0,1], and moves each by alpha * sign(g) before projecting', async () => {
    const rng = new CpuRandom(3);
    const n = 2 * 3 * 8 * 8;
    const eps = 8 / 255;
    const alpha = 2 / 255;
    const xs = image(rng, n);
    const adv = xs.map((v) => Math.fround(v + rng.uniform(-eps, eps)));
    const g = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : rng.normal()));
    const y = await pgdLinfStep(tensor(xs, [2, 3, 8, 8]), tensor(adv, [2, 3, 8, 8]), tensor(g, [2, 3, 8, 8]), { eps, alpha }).read();
    const e = Math.fround(eps);
    for (let i = 0; i < n; i++) {
      const where = `element ${i}: x ${xs[i]}, x_adv ${adv[i]}, g ${g[i]} -> ${y[i]}`;
      expect(y[i]! >= Math.fround(xs[i]! - e) && y[i]! <= Math.fround(xs[i]! + e), where).toBe(true);
      expect(y[i]! >= 0 && y[i]! <= 1, where).toBe(true);
      // sign(0) = 0: a pixel with no gradient stays where it was (it is already inside the box and [0,1]).
      if (g[i] === 0 && adv[i]! >= 0 && adv[i]! <= 1) expect(y[i], where).toBe(Math.fround(adv[i]!));
    }
  });

  it('is one dispatch for the whole batch', () => {
    const x = tensor(new Array(64).fill(0.5), [4, 16]);
    const before = dev().stats().dispatches;
    pgdLinfStep(x, x, x, { eps: 0.1, alpha: 0.01 });
    expect(dev().stats().dispatches - before).toBe(1);
  });

  it('refuses mismatched shapes and bad eps/alpha, naming the argument', () => {
    const a = tensor([0.1, 0.2, 0.3]);
    const b = tensor([0.1, 0.2]);
    expect(() => pgdLinfStep(a, b, a, { eps: 0.1, alpha: 0.1 })).toThrow(/pgdLinfStep: xAdv has shape \[2\], expected x's shape \[3\]/);
    expect(() => pgdLinfStep(a, a, b, { eps: 0.1, alpha: 0.1 })).toThrow(/grad has shape \[2\]/);
    expect(() => pgdLinfStep(a, a, a, { eps: -1, alpha: 0.1 })).toThrow(/eps must be a finite number >= 0, got -1/);
    expect(() => pgdLinfStep(a, a, a, { eps: 0.1, alpha: NaN })).toThrow(/alpha must be a finite number, got NaN/);
  });
});

describe('pgd_l2_step', () => {
  it('passes the audit against the float64 reference', async () => {
    const [row] = await runAudit(dev(), { ops: ['pgd_l2_step'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
  });

  it('keeps every example inside the eps-ball and [0,1]; the step is alpha along g/||g|| when nothing binds', async () => {
    const rng = new CpuRandom(4);
    const [N, F] = [3, 50];
    const xs = Array.from({ length: N * F }, () => Math.fround(rng.uniform(0.3, 0.7)));
    const g = Array.from({ length: N * F }, () => Math.fround(rng.normal()));
    const eps = 0.5;
    const alpha = 0.1;
    const x = tensor(xs, [N, F]);
    // From x itself, one step of 0.1 stays far inside the ball and [0, 1]: y - x = alpha g / ||g|| exactly in float64.
    const y1 = await pgdL2Step(x, x, tensor(g, [N, F]), { eps, alpha }).read();
    const want: number[] = [];
    for (let b = 0; b < N; b++) {
      const row = g.slice(b * F, (b + 1) * F);
      const n = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
      for (const v of row) want.push(alpha * v / n);
    }
    expectClose(Array.from(y1, (v, i) => v - xs[i]!), want, 1e-6, 1e-4, 'y - x');
    // Twenty big steps: each example ends on the sphere of radius eps (or inside it where [0,1] clipped it).
    let adv = x;
    for (let k = 0; k < 20; k++) adv = pgdL2Step(x, adv, tensor(g, [N, F]), { eps, alpha: 0.3 });
    const y = await adv.read();
    for (let b = 0; b < N; b++) {
      let s = 0;
      for (let k = 0; k < F; k++) {
        const v = y[b * F + k]!;
        expect(v >= 0 && v <= 1, `example ${b} feature ${k} = ${v}`).toBe(true);
        s += (v - xs[b * F + k]!) ** 2;
      }
      expect(Math.sqrt(s), `example ${b}: ||y - x||`).toBeLessThanOrEqual(eps * (1 + 1e-6));
      expect(Math.sqrt(s), `example ${b}: ||y - x||`).toBeGreaterThan(eps * 0.999);
    }
  });

  it('leaves an example with a zero gradient inside the ball unchanged', async () => {
    const x = tensor([0.2, 0.4, 0.6, 0.8], [2, 2]);
    const adv = tensor([0.25, 0.4, 0.6, 0.8], [2, 2]);
    const g = tensor([0, 0, 1, -1], [2, 2]);
    const y = await pgdL2Step(x, adv, g, { eps: 0.1, alpha: 0.05 }).read();
    expect(Array.from(y.slice(0, 2))).toEqual([Math.fround(0.25), Math.fround(0.4)]);
    expect(y[2]).not.toBe(Math.fround(0.6));
  });

  it('is one dispatch for the whole batch', () => {
    const x = tensor(new Array(3 * 300).fill(0.5), [3, 300]);
    const before = dev().stats().dispatches;
    pgdL2Step(x, x, x, { eps: 0.1, alpha: 0.01 });
    expect(dev().stats().dispatches - before).toBe(1);
  });

  it('refuses a tensor without a batch dimension and a bad normFloor', () => {
    const s = tensor(0.5, []);
    expect(() => pgdL2Step(s, s, s, { eps: 0.1, alpha: 0.1 })).toThrow(/pgdL2Step: x needs a batch dimension/);
    const a = tensor([[0.5]]);
    expect(() => pgdL2Step(a, a, a, { eps: 0.1, alpha: 0.1, normFloor: 0 })).toThrow(/normFloor must be a finite number > 0, got 0/);
  });
});

// ---- per-example eps and alpha ----

type Step = typeof pgdLinfStep;
const STEPS: [string, Step][] = [['pgd_linf_step', pgdLinfStep], ['pgd_l2_step', pgdL2Step]];

/** x in [0, 1], an iterate near it, and a gradient with exact zeros, [N, 2, 3, 3] (F = 18). */
function batch(seed: number, n: number): { xs: number[]; adv: number[]; g: number[]; shape: number[] } {
  const rng = new CpuRandom(seed);
  const shape = [n, 2, 3, 3];
  const size = n * 18;
  const xs = image(rng, size);
  const adv = xs.map((v) => Math.fround(v + rng.uniform(-0.2, 0.2)));
  const g = Array.from({ length: size }, (_, i) => (i % 7 === 0 ? 0 : Math.fround(rng.normal())));
  return { xs, adv, g, shape };
}

describe('per-example eps and alpha', () => {
  for (const [name, step] of STEPS) {
    it(`${name}: an [N] tensor with all entries equal gives the scalar form's bits (eps, alpha, both)`, async () => {
      const { xs, adv, g, shape } = batch(21, 5);
      const [x, a, gr] = [tensor(xs, shape), tensor(adv, shape), tensor(g, shape)];
      // 0.1 rounds in float32 on both paths: the tensor holds fround(0.1), the scalar reaches the kernel as fround(0.1).
      const [eps, alpha] = [0.1, 0.03];
      const want = await step(x, a, gr, { eps, alpha }).read() as Float32Array;
      const rows = (v: number) => full([5], v);
      for (const [what, opts] of [['eps', { eps: rows(eps), alpha }], ['alpha', { eps, alpha: rows(alpha) }], ['eps and alpha', { eps: rows(eps), alpha: rows(alpha) }]] as const) {
        expectSameBits(await step(x, a, gr, opts).read() as Float32Array, want, `${name}, per-example ${what}`);
      }
    });

    it(`${name}: different entries give, row by row, what the scalar step gives that row`, async () => {
      const n = 6;
      const { xs, adv, g, shape } = batch(22, n);
      // eps 0, alpha > eps, alpha 0, a negative alpha, and a zero-gradient row (4).
      const eps = [0.1, 0, 0.05, 0.3, 0.2, 0.02];
      const alpha = [0.02, 0.05, 0.2, 0, -0.03, 0.01];
      g.fill(0, 4 * 18, 5 * 18);
      const got = await step(tensor(xs, shape), tensor(adv, shape), tensor(g, shape), { eps: tensor(eps), alpha: tensor(alpha) }).read() as Float32Array;
      for (let b = 0; b < n; b++) {
        const row = (v: number[]) => tensor(v.slice(b * 18, (b + 1) * 18), [1, ...shape.slice(1)]);
        const want = await step(row(xs), row(adv), row(g), { eps: eps[b]!, alpha: alpha[b]! }).read() as Float32Array;
        expectSameBits(got.subarray(b * 18, (b + 1) * 18), want, `${name}, example ${b} (eps ${eps[b]}, alpha ${alpha[b]})`);
      }
    });

    it(`${name}: one dispatch, no leaked tensors`, () => {
      const x = tensor(new Array(4 * 18).fill(0.5), [4, 18]);
      const eps = full([4], 0.1);
      const alpha = full([4], 0.01);
      const before = dev().stats();
      scope(() => { step(x, x, x, { eps, alpha }); });
      const after = dev().stats();
      expect(after.dispatches - before.dispatches).toBe(1);
      expect(after.liveTensors).toBe(before.liveTensors);
    });

    it(`${name}: refuses per-example values of the wrong shape or dtype, naming the argument`, () => {
      const what = name === 'pgd_linf_step' ? 'pgdLinfStep' : 'pgdL2Step';
      const x = tensor(new Array(3 * 4).fill(0.5), [3, 4]);
      const bad: [string, { eps: number | Tensor; alpha: number | Tensor }, RegExp][] = [
        ['[N+1] eps', { eps: full([4], 0.1), alpha: 0.01 }, new RegExp(`${what}: a per-example eps must have shape \\[3\\] \\(x's batch\\), got \\[4\\]`)],
        ['[N,1] alpha', { eps: 0.1, alpha: full([3, 1], 0.01) }, /a per-example alpha must have shape \[3\] \(x's batch\), got \[3, 1\]/],
        ['scalar-shaped eps', { eps: full([], 0.1), alpha: 0.01 }, /a per-example eps must have shape \[3\] \(x's batch\), got \[\]/],
        ['int32 alpha', { eps: 0.1, alpha: tensor([1, 2, 3], [3], { dtype: 'int32' }) }, new RegExp(`${what}: a per-example alpha must be a float32 tensor, got int32`)],
      ];
      for (const [label, opts, msg] of bad) expect(() => step(x, x, x, opts), label).toThrow(msg);
      // A scalar is still checked on the CPU beside a per-example partner.
      expect(() => step(x, x, x, { eps: -1, alpha: full([3], 0.01) })).toThrow(/eps must be a finite number >= 0, got -1/);
    });
  }

  it('pgd_linf_step: a rank-0 x has no examples to give values to', () => {
    const s = tensor(0.5, []);
    expect(() => pgdLinfStep(s, s, s, { eps: full([1], 0.1), alpha: 0.1 })).toThrow(/pgdLinfStep: x needs a batch dimension \(rank >= 1\) for a per-example eps, got shape \[\]/);
  });
});
