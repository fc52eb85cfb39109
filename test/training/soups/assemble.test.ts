import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClose, expectSameBits, useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { Generator, rand } from '../../../engine/rng.js';
import * as o from '../../../engine/ops/index.js';
import { noGrad } from '../../../engine/tape.js';
import { scope } from '../../../engine/scope.js';
import type { Tensor } from '../../../engine/tensor.js';
import type { Module } from '../../../nn/module.js';
import { SmallCNN } from '../../../nn/models/index.js';
import { saveCheckpoint } from '../../../nn/checkpoint.js';
import { modelFromCheckpoint, readCheckpointMeta } from '../../../nn/model_io.js';
import { ingredientsFromModels, loadIngredients, type Ingredients } from '../../../training/soups/ingredients.js';
import { assembleSoup, disposeSoup, soupLayers, soupModel, soupOf } from '../../../training/soups/assemble.js';
import { interpolationPoints, simplexPoints } from '../../../training/soups/grid.js';
import { mixingWeights } from '../../../training/soups/learned.js';
import { saveSoup, type SoupResult } from '../../../training/soups/result.js';
import { bnNet, mlp } from './fixtures.js';

const dev = useDevice();
const dir = mkdtempSync(join(tmpdir(), 'soups-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const f32 = async (t: Tensor) => (await t.read()) as Float32Array;
/** The logits of m at x, read back (the forward's temporaries disposed). */
async function logits(m: Module, x: Tensor): Promise<Float32Array> {
  const y = scope(() => noGrad(() => m.forward(x)));
  const v = await f32(y);
  y.dispose();
  return v;
}
const images = (n: number, seed: number, shape = [1, 28, 28]) => rand([n, ...shape], { generator: new Generator(seed) });

async function savedSmallCnn(seed: number): Promise<string> {
  const m = new SmallCNN({ generator: new Generator(seed) });
  const path = join(dir, `smallcnn-${seed}.safetensors`);
  await saveCheckpoint(path, m, { meta: { architecture: 'smallcnn' } });
  m.dispose();
  return path;
}

describe('soup assembly', () => {
  it('a soup of identical checkpoints is the checkpoint: bit for bit for K = 2 and 4, within an ulp for K = 3', async () => {
    const path = await savedSmallCnn(1);
    const live = dev().stats().liveTensors;
    for (const K of [2, 3, 4]) {
      const ing = loadIngredients(new Array<string>(K).fill(path));
      const soup = soupOf(ing, new Array<number>(K).fill(1 / K));
      for (const name of ing.names) {
        const [got, want] = [await f32(soup.get(name)!), await f32(ing.tensors(name)[0]!)];
        if (K === 3) expectClose(got, want, 0, 2.5e-7, `K=3 '${name}'`);
        else expectSameBits(got, want, `K=${K} '${name}'`);
      }
      disposeSoup(soup);
      ing.dispose();
    }
    // BatchNorm buffers too (in-memory ingredients, copies of one net).
    const a = bnNet(2).eval();
    const ing = ingredientsFromModels([a, ...[0, 1, 2].map(() => { const c = bnNet(9); c.loadStateDict(new Map(a.stateDict())); return c; })]);
    const soup = soupOf(ing, [0.25, 0.25, 0.25, 0.25]);
    for (const name of ing.names) {
      const [got, want] = [await soup.get(name)!.read(), await ing.tensors(name)[0]!.read()];
      expect(Array.from(got), name).toEqual(Array.from(want));
    }
    const x = images(4, 3);
    expectSameBits(await logits(soupModel(ing, soup), x), await logits(a, x), 'logits');
    x.dispose();
    disposeSoup(soup);
    ing.dispose();
    expect(dev().stats().liveTensors).toBe(live);
  });

  it('interpolation at t = 0 and t = 1 gives the end points bit for bit (parameters, running statistics, logits)', async () => {
    const ing = ingredientsFromModels([bnNet(4), bnNet(5)]);
    // Different running statistics in each, so that the buffers' interpolation is visible.
    for (const [k, m] of ing.models.entries()) scope(() => { m.train(); m.forward(images(8, 10 + k)); m.eval(); });
    const grid = interpolationPoints(2, [0, 1], 0.05);
    expect(grid.length).toBe(21);
    const x = images(4, 6);
    for (const [end, c] of [[0, grid[0]!], [1, grid[20]!]] as const) {
      expect(c).toEqual(end === 0 ? [1, 0] : [0, 1]);
      const soup = soupOf(ing, c);
      for (const name of ing.names) {
        const want = ing.tensors(name)[end]!;
        if (want.dtype === 'float32') expectSameBits(await f32(soup.get(name)!), await f32(want), `t=${end} '${name}'`);
      }
      expectSameBits(await logits(soupModel(ing, soup), x), await logits(ing.models[end]!, x), `t=${end} logits`);
      disposeSoup(soup);
    }
    // An interior point is the weighted sum, running statistics included.
    const mid = soupOf(ing, grid[7]!);
    for (const name of ['1.running_mean', '1.running_var', '0.weight']) {
      const [a, b] = [await f32(ing.tensors(name)[0]!), await f32(ing.tensors(name)[1]!)];
      expectClose(await f32(mid.get(name)!), a.map((v, i) => 0.65 * v + 0.35 * b[i]!), 1e-7, 1e-6, name);
    }
    // The counter is a copy of the first ingredient's: a train-mode pass over the soup leaves the ingredient's alone.
    const nbt = mid.get('1.num_batches_tracked')!;
    expect(nbt).not.toBe(ing.tensors('1.num_batches_tracked')[0]);
    scope(() => { const m = soupModel(ing, mid).train(); m.forward(x); m.eval(); });
    expect(Array.from(await nbt.read())).toEqual([2]);
    expect(Array.from(await ing.tensors('1.num_batches_tracked')[0]!.read())).toEqual([1]);
    disposeSoup(mid);
    x.dispose();
    ing.dispose();
  });

  it('assembles each tensor in one weighted_sum dispatch for K <= 6 (two for K = 7), not K axpy dispatches', async () => {
    for (const [K, perTensor] of [[2, 1], [3, 1], [6, 1], [7, 2]] as const) {
      const ing = ingredientsFromModels(Array.from({ length: K }, (_, k) => mlp(k)));
      const before = dev().stats().dispatches;
      const soup = soupOf(ing, new Array<number>(K).fill(1 / K));
      expect(dev().stats().dispatches - before, `K=${K}`).toBe(perTensor * ing.names.length);
      disposeSoup(soup);
      ing.dispose();
    }
  });

  it('per-layer coefficients: one row per module, its parameters and BN statistics mixed by that row', async () => {
    const ing = ingredientsFromModels([bnNet(1), bnNet(2), bnNet(3)]);
    const layers = soupLayers(ing);
    expect(layers.labels).toEqual(['0', '1', '4']);
    expect(layers.rowOf.get('1.running_var')).toBe(1);
    const rows = [[0.2, 0.3, 0.5], [1, 0, 0], [-0.5, 1, 0.5]];
    const soup = soupOf(ing, rows);
    for (const name of ['0.weight', '1.bias', '1.running_var', '4.weight']) {
      const r = rows[layers.rowOf.get(name)!]!;
      const ts = await Promise.all(ing.tensors(name).map(f32));
      expectClose(await f32(soup.get(name)!), ts[0]!.map((_, i) => r.reduce((s, c, k) => s + c * ts[k]![i]!, 0)), 1e-7, 1e-6, name);
    }
    expect(() => soupOf(ing, [[1, 0, 0]])).toThrow(/coefficients of shape \[1, 3\], expected \[3\] \(per model\) or \[3, 3\] \(per layer\)/);
    expect(() => soupOf(ing, [0.5, NaN, 0.5])).toThrow(/coefficient 1 is NaN/);
    disposeSoup(soup);
    ing.dispose();
  });

  it('a saved soup reloads through modelFromCheckpoint as its architecture and gives the same logits', async () => {
    const paths = [await savedSmallCnn(7), await savedSmallCnn(8)];
    const ing = loadIngredients(paths);
    const state = soupOf(ing, [0.3, 0.7]);
    const result: SoupResult = {
      method: 'fixed', coefficients: [0.3, 0.7], criterion: 'clean', heldOut: { clean: 0.5, robust: 0.25, cleanLoss: 1, robustLoss: 2, n: 10 },
      wallMs: 1, bn: { kind: 'none' }, state,
    };
    const out = join(dir, 'soup.safetensors');
    await saveSoup(out, ing, result);
    const { model, spec } = modelFromCheckpoint(out);
    expect(spec.architecture).toBe('smallcnn');
    const meta = readCheckpointMeta(out) as { soup?: { coefficients: number[]; ingredients: string[]; bn: { kind: string } } };
    expect(meta.soup?.coefficients).toEqual([0.3, 0.7]);
    expect(meta.soup?.ingredients).toEqual(paths);
    const x = images(3, 9);
    expectSameBits(await logits(model.eval(), x), await logits(soupModel(ing, state), x), 'reloaded soup logits');
    x.dispose();
    model.dispose();
    disposeSoup(state);
    ing.dispose();
  });
});

/** The float64 forward of the 784-32-10 MLP: mean cross-entropy of `x` under the soup of W1, b1, W2, b2. */
function mlpLoss64(alpha: number[], ws: Float32Array[][], x: Float32Array, labels: number[]): number {
  const mix = (j: number) => Float64Array.from(ws[0]![j]!, (_, i) => alpha.reduce((s, a, k) => s + a * ws[k]![j]![i]!, 0));
  const [w1, b1, w2, b2] = [mix(0), mix(1), mix(2), mix(3)];
  let total = 0;
  labels.forEach((y, n) => {
    const h = Array.from({ length: 32 }, (_, j) => {
      let s = b1[j]!;
      for (let i = 0; i < 784; i++) s += w1[j * 784 + i]! * x[n * 784 + i]!;
      return Math.max(0, s);
    });
    const z = Array.from({ length: 10 }, (_, c) => h.reduce((s, v, j) => s + v * w2[c * 32 + j]!, b2[c]!));
    const m = Math.max(...z);
    total += m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) - z[y]!;
  });
  return total / labels.length;
}

const softmax64 = (a: number[], T: number) => { const m = Math.max(...a); const e = a.map((v) => Math.exp((v - m) / T)); const s = e.reduce((p, q) => p + q, 0); return e.map((v) => v / s); };

/** Loss of the soup with logits A ([K] or [L, K]) on (x, y), BN statistics mixed by bufferCoefficients when given. */
function soupLoss(ing: Ingredients, A: Tensor, x: Tensor, y: Tensor, param: 'softmax' | 'affine', T: number, buf?: Tensor): Tensor {
  const alpha = mixingWeights(A, param, T);
  const soup = assembleSoup(ing, alpha, { bufferCoefficients: buf ?? alpha });
  return o.crossEntropy(soupModel(ing, soup).forward(x), y);
}

/** Central differences of f at A (float32 GPU forwards), step h. */
async function finiteDiff(values: number[], shape: number[], f: (A: Tensor) => Tensor, h: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const at = async (d: number) => {
      const v = [...values];
      v[i] = v[i]! + d;
      return noGrad(() => scope(() => f(tensor(v, shape)))).item();
    };
    out.push(((await at(h)) - (await at(-h))) / (2 * h));
  }
  return out;
}

describe('the coefficients\' gradient (through the model, the assembly and the parametrisation)', () => {
  it('per-model softmax with a temperature: matches a float64 reference and float32 finite differences', async () => {
    const ing = ingredientsFromModels([mlp(1), mlp(2), mlp(3)]);
    const N = 6;
    const x = images(N, 11);
    const labels = [0, 3, 5, 7, 9, 2];
    const y = tensor(labels, [N], { dtype: 'int32' });
    const T = 0.5;
    const A0 = [0.3, -0.2, 0.1];
    const A = tensor(A0);
    A.requiresGrad = true;
    const { value, grads } = o.valueAndGrad((a: Tensor) => soupLoss(ing, a, x, y, 'softmax', T), [A]);
    const gpu = Array.from(await f32(grads[0]!));

    const ws = await Promise.all(ing.models.map((m) => Promise.all(m.stateDict().map(([, t]) => f32(t)))));
    const xs = await f32(x);
    const loss64 = (a: number[]) => mlpLoss64(softmax64(a, T), ws, xs, labels);
    expectClose([await value.item()], [loss64(A0)], 1e-5, 1e-5, 'loss (GPU vs float64)');
    const h = 1e-5;
    const ref = A0.map((_, i) => { const p = [...A0]; const m = [...A0]; p[i]! += h; m[i]! -= h; return (loss64(p) - loss64(m)) / (2 * h); });
    expect(Math.max(...ref.map(Math.abs))).toBeGreaterThan(1e-3); // a gradient that can be wrong
    expectClose(gpu, ref, 2e-5, 2e-3, 'dL/dA (GPU vs float64 reference)');
    expectClose(gpu, await finiteDiff(A0, [3], (a) => soupLoss(ing, a, x, y, 'softmax', T), 1e-2), 5e-4, 2e-2, 'dL/dA (GPU vs float32 finite differences)');
    for (const t of [x, y, A, value, ...grads]) t.dispose();
    ing.dispose();
  });

  it('per-layer raw-affine on a BatchNorm net (statistics mixed as data): matches float32 finite differences', async () => {
    const ing = ingredientsFromModels([bnNet(1), bnNet(2)]);
    for (const [k, m] of ing.models.entries()) scope(() => { m.train(); m.forward(images(8, 20 + k)); m.eval(); });
    const x = images(6, 12);
    const y = tensor([1, 2, 3, 4, 5, 6], [6], { dtype: 'int32' });
    const A0 = [0.7, 0.3, 0.2, 0.9, 0.5, 0.4];
    const A = tensor(A0, [3, 2]);
    A.requiresGrad = true;
    const buf = noGrad(() => scope(() => mixingWeights(A, 'affine')));
    const { grads } = o.valueAndGrad((a: Tensor) => soupLoss(ing, a, x, y, 'affine', 1, buf), [A]);
    const gpu = Array.from(await f32(grads[0]!));
    expect(Math.max(...gpu.map(Math.abs))).toBeGreaterThan(1e-3);
    // Rows sum to 1 whatever A is: the gradient is orthogonal to (1, 1) in each row.
    for (let r = 0; r < 3; r++) expect(Math.abs(gpu[2 * r]! + gpu[2 * r + 1]!)).toBeLessThan(1e-5);
    expectClose(gpu, await finiteDiff(A0, [3, 2], (a) => soupLoss(ing, a, x, y, 'affine', 1, buf), 1e-2), 5e-4, 2e-2, 'dL/dA per layer');
    for (const t of [x, y, A, buf, ...grads]) t.dispose();
    ing.dispose();
  });
});

describe('grids', () => {
  it('the simplex grid holds every multiple of the step summing to 1, vertices exact', () => {
    const g = simplexPoints(3, 0.1);
    expect(g.length).toBe(66);
    expect(simplexPoints(3, 0.05).length).toBe(231);
    expect(simplexPoints(4, 0.1).length).toBe(286);
    expect(g[0]).toEqual([1, 0, 0]);
    expect(g[g.length - 1]).toEqual([0, 0, 1]);
    expect(g.every((c) => Math.abs(c.reduce((a, b) => a + b, 0) - 1) < 1e-12)).toBe(true);
    expect(() => simplexPoints(3, 0.3)).toThrow(/step must divide 1/);
    expect(() => interpolationPoints(3, [1, 1], 0.1)).toThrow(/two different ingredients/);
  });
});
