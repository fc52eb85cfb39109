/**
 * The evaluation protocol: every row's per-example correctness (clean-correct and robust) agrees with its
 * accuracy, rows come in order with settings and times, the sanity checks of METHODS §8 run and hold on a
 * trained model, a deliberately broken attack trips them, and the distributional rows sit at or below
 * pointwise PGD at the same budget.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import type { Sequential } from '../../nn/layers/index.js';
import { evaluate, rowChecks, type EvaluateOptions } from '../../training/eval.js';
import * as o from '../../engine/ops/index.js';
import { tensor } from '../../engine/create.js';
import { Generator } from '../../engine/rng.js';
import { noGrad } from '../../engine/tape.js';
import { pgd } from '../../training/attacks/pgd.js';
import { bnNet, fashion, trainedMlp } from './attacks/models.js';

const dev = useDevice();

describe('evaluate', () => {
  let model: Sequential;
  let data: ReturnType<typeof fashion>;
  beforeAll(async () => {
    model = await trainedMlp();
    data = fashion('test', 96);
  });

  it('clean, FGSM, PGD, AutoAttack and distributional rows, each with per-example correctness; the sanity checks hold', async () => {
    const before = dev().stats().liveTensors;
    const rep = await evaluate(model, data.x, data.y, {
      norm: 'linf', eps: 0.05, attacks: ['clean', 'fgsm', 'pgd', 'autoattack', 'distributional'], pgdSteps: 10, autoAttackSteps: 10, autoAttackQueries: 50,
      deltas: [0.05], batchSize: 48, checkExamples: 96, seed: 1,
    });
    expect(rep.rows.map((r) => r.attack)).toEqual(['clean', 'fgsm', 'pgd-10', 'autoattack (standard)', 'distributional delta 0.05']);
    for (const r of rep.rows.slice(0, 4)) {
      expect(r.correct.length).toBe(96);
      expect(r.correct.reduce((s, v) => s + v, 0) / 96).toBeCloseTo(r.accuracy, 10);
      expect(r.seconds).toBeGreaterThan(0);
    }
    // An example robust to an attack is correct clean.
    const clean = rep.rows[0]!.correct;
    for (const r of rep.rows.slice(1, 4)) r.correct.forEach((v, i) => { if (v) expect(clean[i]).toBe(1); });
    const names = rep.checks.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['PGD <= FGSM', 'AutoAttack <= PGD', 'monotone in eps', 'more iterations do not help the model', 'about 0% at a large eps (0.5)', 'distributional <= pointwise at delta 0.05', 'within the W budget at delta 0.05']));
    expect(rep.checks.filter((c) => !c.ok), JSON.stringify(rep.checks)).toEqual([]);
    expect(rep.warnings).toEqual([]);
    expect(dev().stats().liveTensors).toBe(before);
  });

  it('attacks only the clean-correct examples, gathered into full batches: the PGD row is pgd() on exactly those', async () => {
    const progress: [string, number, number][] = [];
    const rep = await evaluate(model, data.x, data.y, {
      norm: 'linf', eps: 0.05, attacks: ['clean', 'pgd'], pgdSteps: 5, batchSize: 96, checks: false, seed: 3,
      onProgress: (row, done, total) => progress.push([row, done, total]),
    });
    const clean = rep.rows[0]!.correct;
    const chosen = Array.from(clean.keys()).filter((i) => clean[i]);
    expect(chosen.length, 'the model misclassifies some of the 96').toBeLessThan(96);
    expect(chosen.length).toBeGreaterThan(40);
    expect(progress.filter(([row]) => row === 'pgd-5')).toEqual([['pgd-5', chosen.length, chosen.length]]);
    // The same attack by hand on the gathered examples, with the row's generator.
    const idx = tensor(Int32Array.from(chosen), [chosen.length]);
    const xs = o.indexSelect(data.x, 0, idx);
    const ys = o.indexSelect(data.y, 0, idx);
    const res = pgd(model, xs, ys, { norm: 'linf', eps: 0.05, steps: 5, generator: new Generator(3) });
    model.eval();
    const logits = await noGrad(() => model.forward(res.xAdv)).read();
    const labels = await ys.read();
    const want = new Uint8Array(96);
    chosen.forEach((i, j) => {
      const row = Array.from(logits.subarray(10 * j, 10 * j + 10));
      want[i] = row.indexOf(Math.max(...row)) === labels[j] ? 1 : 0;
    });
    expect(Array.from(rep.rows[1]!.correct)).toEqual(Array.from(want));
    for (const t of [idx, xs, ys, res.xAdv, res.fooled, res.loss]) t.dispose();
  });

  it('leaves nothing to attack when nothing is right clean: the row is 0% and the attack never runs', async () => {
    model.eval();
    const logits = await noGrad(() => model.forward(data.x)).read();
    // Every label one class past the model's prediction.
    const wrong = Int32Array.from({ length: 96 }, (_, i) => {
      const row = Array.from(logits.subarray(10 * i, 10 * i + 10));
      return (row.indexOf(Math.max(...row)) + 1) % 10;
    });
    const y = tensor(wrong, [96]);
    const progress: [string, number, number][] = [];
    const rep = await evaluate(model, data.x, y, {
      norm: 'linf', eps: 0.05, attacks: ['clean', 'pgd'], pgdSteps: 5, batchSize: 48, checks: false, onProgress: (row, done, total) => progress.push([row, done, total]),
    });
    expect(rep.rows.map((r) => r.accuracy)).toEqual([0, 0]);
    expect(progress.filter(([row]) => row === 'pgd-5')).toEqual([['pgd-5', 0, 0]]);
    expect(rep.rows[1]!.budget).toBeUndefined();
    y.dispose();
  });

  it('the row checks fail where an attack is weaker than it should be, naming both numbers', () => {
    const rows = [
      { attack: 'fgsm', accuracy: 0.4, settings: {} },
      { attack: 'pgd-20', accuracy: 0.5, settings: {} },
      { attack: 'autoattack (standard)', accuracy: 0.45, settings: { afterEach: [{ attack: 'apgd-ce', robustAccuracy: 0.5 }, { attack: 'square', robustAccuracy: 0.45 }] } },
      // as evaluate reports it: the minimum over the components, here PGD's, since both W attacks fell short of it
      { attack: 'distributional delta 0.1', accuracy: 0.2, settings: { delta: 0.1, by: 'PGD', components: [{ attack: 'greedy-W', accuracy: 0.3 }, { attack: 'W-PGD CE', accuracy: 0.25 }, { attack: 'PGD', accuracy: 0.2 }] } },
      { attack: 'distributional delta 0.05', accuracy: 0.3, settings: { delta: 0.05, by: 'greedy-W', components: [{ attack: 'greedy-W', accuracy: 0.3, spent: 0.05 }, { attack: 'W-PGD CE', accuracy: 0.35, spent: 0.0501 }, { attack: 'PGD', accuracy: 0.4 }] } },
    ];
    const failed = Object.fromEntries(rowChecks(rows).map((c) => [c.name, c]));
    expect(failed['PGD <= FGSM']).toMatchObject({ ok: false, detail: 'PGD 50.00%, FGSM 40.00%' });
    expect(failed['AutoAttack <= PGD']!.ok).toBe(true);
    expect(failed['Square does not beat the white-box attacks']).toMatchObject({ ok: false, detail: '50.00% before Square, 45.00% after' });
    expect(failed['distributional <= pointwise at delta 0.1']).toMatchObject({ ok: false, detail: 'greedy-W 30.00%, W-PGD CE 25.00%; pointwise PGD 20.00% (the row reports the minimum, 20.00% by PGD)' });
    expect(failed['distributional <= pointwise at delta 0.05']!.ok).toBe(true);
    expect(failed['within the W budget at delta 0.05']).toMatchObject({ ok: false, detail: 'greedy-W 0.050000, W-PGD CE 0.050100' });
  });

  it('a whole evaluation (AutoAttack with APGD-T and FAB-T, the distributional rows, the checks) leaves BN statistics, weights and the mode as they were; repeated, nothing leaks', async () => {
    const m = bnNet(2);
    const d = fashion('test', 32);
    const before = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
    const weights = await Promise.all(m.parameters().map((t) => t.read()));
    m.train();
    const opts: EvaluateOptions = { norm: 'linf', eps: 0.05, attacks: ['clean', 'fgsm', 'pgd', 'autoattack', 'distributional'], pgdSteps: 3, autoAttackSteps: 3, autoAttackQueries: 20, deltas: [0.05], batchSize: 16, checkExamples: 16, seed: 4 };
    await evaluate(m, d.x, d.y, opts);
    const live = dev().stats().liveTensors;
    const pooled = dev().stats().pooledBytes;
    await evaluate(m, d.x, d.y, opts);
    expect(dev().stats().liveTensors, 'live tensors after a second evaluation').toBe(live);
    expect(dev().stats().pooledBytes, 'pooled bytes after a second evaluation').toBe(pooled);
    const after = await Promise.all(m.namedBuffers().map(([, t]) => t.read()));
    after.forEach((a, i) => expect(Array.from(a), m.namedBuffers()[i]![0]).toEqual(Array.from(before[i]!)));
    (await Promise.all(m.parameters().map((t) => t.read()))).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(weights[i]!)));
    for (const p of m.parameters()) expect(p.grad).toBeNull();
    expect(m.training, 'the model mode is restored').toBe(true);
  });

  it('refuses an unknown attack and a bad eps, naming them', async () => {
    await expect(evaluate(model, data.x, data.y, { norm: 'linf', eps: 0.05, attacks: ['pgd-100' as never] })).rejects.toThrow(/unknown attack "pgd-100"/);
    await expect(evaluate(model, data.x, data.y, { norm: 'linf', eps: 2 })).rejects.toThrow(/L-inf eps above 1/);
  });
});
