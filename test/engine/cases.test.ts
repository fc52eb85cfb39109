import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { CaseFileError, runCaseFiles } from '../../engine/audit_cases.js';

const dev = useDevice();
const casesDir = join(import.meta.dirname, '../cases');
const FILES = ['matmul', 'elementwise', 'reductions', 'movement', 'mlp2', 'conv2d', 'batch_norm', 'pooling', 'activations', 'losses', 'pgd', 'optim', 'tiny_net', 'indexing'].map((f) => join(casesDir, `${f}.json`));

describe('PyTorch reference cases', () => {
  it.each(FILES)('%s: every case passes within the default tolerance', async (file) => {
    const results = await runCaseFiles(dev(), [file]);
    const bad = results.filter((r) => r.status !== 'pass');
    expect(bad.map((r) => `${r.case}: ${r.status} ${r.detail}`)).toEqual([]);
    expect(results.length).toBeGreaterThan(0);
  });
});

describe('pgd_linf_step', () => {
  it('is bit-exact against the PyTorch float32 cases (tolerance 0)', async () => {
    const results = (await runCaseFiles(dev(), [join(casesDir, 'pgd.json')], { tolerance: { atol: 0, rtol: 0 } })).filter((r) => r.op === 'pgd_linf_step');
    expect(results.length).toBeGreaterThan(3);
    expect(results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.detail}`)).toEqual([]);
    // eps and alpha per example (inputs of shape [N]) are among them.
    expect(results.filter((r) => r.case.includes('per_example')).length).toBeGreaterThanOrEqual(3);
  });

  it('refuses a case that gives eps both as a param and as a per-example input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cases-'));
    const t = (shape: number[], data: number[]) => ({ shape, dtype: 'float32', data });
    const f = join(dir, 'both.json');
    writeFileSync(f, JSON.stringify({ schema_version: 1, cases: [{
      name: 'both', op: 'pgd_linf_step', params: { eps: 0.1, alpha: 0.1 },
      inputs: { x: t([2, 1], [0.5, 0.5]), x_adv: t([2, 1], [0.5, 0.5]), grad: t([2, 1], [1, -1]), eps: t([2], [0.1, 0.2]) },
      outputs: { x_adv_new: { shape: [2, 1], dtype: 'float64', data: [0.6, 0.3] } }, gout: null, gout_for: null, grads: {},
    }] }));
    const [r] = await runCaseFiles(dev(), [f]);
    expect(r!.status).toBe('fail');
    expect(r!.detail).toMatch(/eps is given both as params\.eps and as inputs\.eps/);
  });
});

describe('case files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cases-'));
  const write = (name: string, doc: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return p;
  };
  const t = (shape: number[], data: number[], dtype = 'float32') => ({ shape, dtype, data });
  const good = { name: 'neg', op: 'neg', params: {}, inputs: { x: t([2], [1, -2]) }, outputs: { y: t([2], [-1, 2], 'float64') }, gout: null, gout_for: null, grads: {} };

  it('reports ops the engine lacks as skipped, and counts them', async () => {
    const f = write('skip.json', { schema_version: 1, cases: [good, { ...good, name: 'conv', op: 'conv2d_not_yet' }] });
    const r = await runCaseFiles(dev(), [f]);
    expect(r.map((x) => x.status)).toEqual(['pass', 'skipped']);
    expect(r[1]!.detail).toContain('unsupported op');
  });

  it('fails a case whose stored values are wrong, naming the element', async () => {
    const f = write('wrong.json', { schema_version: 1, cases: [{ ...good, outputs: { y: t([2], [-1, 2.5], 'float64') } }] });
    const [r] = await runCaseFiles(dev(), [f]);
    expect(r!.status).toBe('fail');
    expect(r!.detail).toContain('outputs.y[1]');
  });

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['wrong schema', { schema_version: 2, cases: [] }, /schema_version: expected 1/],
    ['data length', { schema_version: 1, cases: [{ ...good, inputs: { x: t([3], [1, 2]) } }] }, /case 'neg'\.inputs\.x\.data: expected 3 values/],
    ['gout_for', { schema_version: 1, cases: [{ ...good, gout: t([2], [1, 1]), gout_for: 'z' }] }, /case 'neg'\.gout_for/],
    ['gout_for an inherited name', { schema_version: 1, cases: [{ ...good, gout: t([2], [1, 1]), gout_for: 'constructor' }] }, /case 'neg'\.gout_for: must name one of the outputs/],
    ['a case that compares nothing', { schema_version: 1, cases: [{ ...good, outputs: {} }] }, /case 'neg'\.outputs: the case compares nothing: no outputs and no grads/],
    ['only ignored outputs', { schema_version: 1, cases: [{ ...good, op: 'pgd_l2_step', inputs: { x: t([2], [0, 0]), x_adv: t([2], [0, 0]), grad: t([2], [1, 1]) }, outputs: { step_norm: t([1], [1]) } }] }, /case 'neg'\.outputs: the case compares nothing: no outputs among x_adv_new and no grads/],
    ['a missing input', { schema_version: 1, cases: [{ ...good, op: 'matmul', inputs: { a: t([1, 1], [2]) }, outputs: { y: t([1, 1], [2]) } }] }, /case 'neg'\.inputs\.b: missing: op 'matmul' needs inputs a, b \(the case has a\)/],
    ['a missing input of a composite', { schema_version: 1, cases: [{ ...good, op: 'conv2d', inputs: { weight: t([1, 1, 1, 1], [1]) } }] }, /case 'neg'\.inputs\.x: missing: op 'conv2d' needs inputs x, weight/],
    ['a null in the data', { schema_version: 1, cases: [{ ...good, outputs: { y: t([2], [-1, null as never], 'float64') } }] }, /case 'neg'\.outputs\.y\.data\[1\]: expected a number, got null/],
    ['a string in the data', { schema_version: 1, cases: [{ ...good, inputs: { x: t([2], ['1' as never, 2]) } }] }, /case 'neg'\.inputs\.x\.data\[0\]: expected a number, got "1"/],
    ['an int64 label beyond int32', { schema_version: 1, cases: [{ ...good, inputs: { x: t([2], [1, 2 ** 31], 'int64') } }] }, /case 'neg'\.inputs\.x\.data\[1\]: int64 value 2147483648 is not an integer in the int32 range/],
    ['a fractional int64', { schema_version: 1, cases: [{ ...good, inputs: { x: t([2], [1, 0.5], 'int64') } }] }, /case 'neg'\.inputs\.x\.data\[1\]: int64 value 0\.5 is not an integer/],
    ['an optimizer case with no steps', { schema_version: 1, cases: [{ ...good, op: 'sgd', params: { lr: 0.1 }, inputs: { params: { w: t([1], [1]) }, grads_per_step: [] }, outputs: { params_per_step: [] } }] }, /case 'neg'\.outputs: the case compares nothing/],
  ])('refuses a malformed file (%s) naming file, case and field', async (_, doc, msg) => {
    const f = write('bad.json', doc);
    await expect(runCaseFiles(dev(), [f])).rejects.toThrow(CaseFileError);
    await expect(runCaseFiles(dev(), [f])).rejects.toThrow(msg);
  });
});
