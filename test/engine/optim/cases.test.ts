/**
 * The reference-case runner on the optimizer format (REFERENCE_CASES.md: sgd, adam, adamw nest their
 * tensors per step) and on the fused PGD steps: files written here with values from the float64
 * reimplementations of PyTorch's rules (test/engine/optim/reference.ts, checked against torch 1.13),
 * failures naming the step, parameter and element, malformed nested files refused naming the field,
 * state_per_step and pgd_l2_step's intermediates ignored.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { CaseFileError, runCaseFiles } from '../../../engine/audit_cases.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import { RefAdam, RefSGD } from './reference.js';

const dev = useDevice();
const dir = mkdtempSync(join(tmpdir(), 'optim-cases-'));

const T = (shape: number[], data: number[], dtype = 'float32') => ({ shape, dtype, data });
const SHAPES: Record<string, number[]> = { 'fc.weight': [3, 4], 'fc.bias': [3] };

function write(name: string, cases: unknown[]): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify({ schema_version: 1, family: 'optim', cases }));
  return p;
}

/** An optimizer case: random parameters and gradients, expected parameters from `ref` after each step. */
function optimizerCase(name: string, op: string, params: Record<string, unknown>, steps: number, ref: (p: number[][]) => { params: number[][]; step(g: number[][]): void }) {
  const rng = new CpuRandom(name.length * 7 + steps);
  const names = Object.keys(SHAPES);
  const draw = (n: number) => Array.from({ length: n }, () => Math.fround(rng.normal()));
  const init = names.map((k) => draw(SHAPES[k]!.reduce((a, b) => a * b, 1)));
  const r = ref(init.map((v) => [...v]));
  const grads: Record<string, unknown>[] = [];
  const after: Record<string, unknown>[] = [];
  for (let k = 0; k < steps; k++) {
    const g = init.map((v) => draw(v.length));
    r.step(g);
    grads.push(Object.fromEntries(names.map((n, i) => [n, T(SHAPES[n]!, g[i]!)])));
    after.push(Object.fromEntries(names.map((n, i) => [n, T(SHAPES[n]!, [...r.params[i]!], 'float64')])));
  }
  return {
    name, op, params: { ...params, steps },
    inputs: { params: Object.fromEntries(names.map((n, i) => [n, T(SHAPES[n]!, init[i]!)])), grads_per_step: grads },
    outputs: { params_per_step: after, state_per_step: [{ anything: 'is ignored' }] },
    gout: null, gout_for: null, grads: {},
  };
}

const CASES = [
  optimizerCase('sgd nesterov wd', 'sgd', { lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 5e-4, nesterov: true }, 4,
    (p) => new RefSGD(p, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true })),
  optimizerCase('sgd dampening', 'sgd', { lr: 0.05, momentum: 0.8, dampening: 0.3, weight_decay: 0, nesterov: false }, 3,
    (p) => new RefSGD(p, { lr: 0.05, momentum: 0.8, dampening: 0.3 })),
  optimizerCase('adam amsgrad', 'adam', { lr: 0.01, betas: [0.8, 0.99], eps: 1e-8, weight_decay: 0.1, amsgrad: true }, 4,
    (p) => new RefAdam(p, { lr: 0.01, betas: [0.8, 0.99], weightDecay: 0.1, amsgrad: true })),
  optimizerCase('adamw', 'adamw', { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, amsgrad: false }, 5,
    (p) => new RefAdam(p, { lr: 0.01, weightDecay: 0.01, decoupled: true })),
];

describe('optimizer reference cases', () => {
  it('sgd, adam and adamw cases pass, every step of every parameter compared', async () => {
    const results = await runCaseFiles(dev(), [write('good.json', CASES)]);
    expect(results.map((r) => `${r.case}: ${r.status} ${r.detail}`)).toEqual(CASES.map((c) => `${c.name}: pass `));
  });

  it('a wrong stored value fails, naming the step, the parameter and the element', async () => {
    const bad = structuredClone(CASES[2]!);
    (bad.outputs.params_per_step[2]!['fc.bias'] as { data: number[] }).data[1]! += 1e-3;
    const [r] = await runCaseFiles(dev(), [write('wrong.json', [bad])]);
    expect(r!.status).toBe('fail');
    expect(r!.detail).toMatch(/^outputs\.params_per_step\[2\]\.fc\.bias\[1\] = /);
  });

  it.each<[string, (c: ReturnType<typeof optimizerCase>) => void, RegExp]>([
    ['a gradient for no parameter', (c) => { (c.inputs.grads_per_step[0] as Record<string, unknown>).other = T([1], [1]); }, /inputs\.grads_per_step\[0\]\.other: names no parameter/],
    ['a gradient of the wrong shape', (c) => { (c.inputs.grads_per_step[1] as Record<string, unknown>)['fc.bias'] = T([2], [1, 2]); }, /inputs\.grads_per_step\[1\]\.fc\.bias\.shape: \[2\] differs from the parameter's \[3\]/],
    ['fewer results than steps', (c) => { c.outputs.params_per_step.pop(); }, /outputs\.params_per_step: expected 4 steps \(as inputs\.grads_per_step\), got 3/],
    ['steps disagreeing with the gradients', (c) => { c.params.steps = 7; }, /params\.steps: is 7 but inputs\.grads_per_step has 4 steps/],
    ['flat inputs', (c) => { (c as { inputs: unknown }).inputs = { x: T([1], [1]) }; }, /inputs\.params: expected an object of tensors/],
  ])('refuses a malformed optimizer case (%s) naming the field', async (_, spoil, msg) => {
    const c = structuredClone(CASES[0]!);
    spoil(c);
    const f = write('bad.json', [c]);
    await expect(runCaseFiles(dev(), [f])).rejects.toThrow(CaseFileError);
    await expect(runCaseFiles(dev(), [f])).rejects.toThrow(msg);
  });
});

describe('PGD step reference cases', () => {
  it('pgd_linf_step compares x_adv_new; pgd_l2_step ignores the intermediates a case may carry', async () => {
    const x = [0, 0.5, 1, 0.25];
    const adv = [0.1, 0.45, 0.95, 0.25];
    const g = [1, -2, 3, 0];
    const eps = 0.1;
    const alpha = 0.07;
    const f = Math.fround;
    const linf = x.map((v, i) => Math.min(Math.max(Math.min(Math.max(f(adv[i]! + f(alpha) * Math.sign(g[i]!)), f(v - f(eps))), f(v + f(eps))), 0), 1));
    // One example of 4 features: step alpha g/||g||, projection onto the 0.1-ball around x, clamp.
    const gn = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
    const d = x.map((v, i) => adv[i]! + (alpha * g[i]!) / gn - v);
    const dn = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
    const l2 = x.map((v, i) => Math.min(Math.max(v + d[i]! * Math.min(1, eps / dn), 0), 1));
    const inputs = { x: T([1, 4], x), x_adv: T([1, 4], adv), grad: T([1, 4], g) };
    const cases = [
      { name: 'linf', op: 'pgd_linf_step', params: { eps, alpha }, inputs, outputs: { x_adv_new: T([1, 4], linf, 'float64') }, gout: null, gout_for: null, grads: {} },
      { name: 'l2', op: 'pgd_l2_step', params: { eps, alpha, norm_floor: 1e-12 }, inputs,
        outputs: { x_adv_new: T([1, 4], l2, 'float64'), grad_norm: T([1], [gn], 'float64') }, gout: null, gout_for: null, grads: {} },
    ];
    const results = await runCaseFiles(dev(), [write('pgd.json', cases)]);
    expect(results.map((r) => `${r.case}: ${r.status} ${r.detail}`)).toEqual(['linf: pass ', 'l2: pass ']);
    expect(results[0]!.maxAbs).toBe(0);
  });
});
