/**
 * The package's entry point (index.ts) exports what the CLI uses, so that everything the CLI does is
 * importable: training, evaluation, the attacks, reports, soups, and the option declarations.
 */
import { describe, expect, it } from 'vitest';
import * as rg from '../index.js';
import { useDevice } from './helpers.js';

const dev = useDevice();

/** Row-wise log-softmax of logits [B, K] in float64. */
const logSoftmax = (z: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, k: number) => Array.from({ length: z.length / k }, (_, r) => {
  const row = Array.from(z.subarray(r * k, (r + 1) * k) as ArrayLike<number>);
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
});

describe("the package's exports", () => {
  it('hold the functions behind every command', () => {
    const fns = ['train', 'trainConfig', 'readRunConfig', 'fit', 'evaluate', 'autoAttack', 'apgd', 'apgdTargeted', 'fab', 'square', 'pgdAttack',
      'wpgd', 'greedyW', 'distributionalAccuracy', 'writeRunReport', 'compareRuns', 'modelFromCheckpoint', 'saveCheckpoint', 'loadCheckpoint',
      'runAudit', 'loadDataset', 'DataLoader', 'tradesObjective', 'wTradesObjective', 'pgdAtObjective', 'standardObjective', 'withDefaults',
      'greedySoup', 'learnedSoup', 'runSoup', 'writeSoupReport', 'grad', 'valueAndGrad', 'gather', 'compactIndices',
      'pgdAtLoss', 'tradesLoss', 'tradesAttackObjective', 'withInitModel'] as const;
    const missing = fns.filter((f) => typeof (rg as Record<string, unknown>)[f] !== 'function');
    expect(missing).toEqual([]);
  });

  it("trainConfig gives train's defaults, START_DEFAULTS are valid train options, and a bad value is refused naming the key", () => {
    const { config } = rg.trainConfig({ ...rg.START_DEFAULTS });
    expect(config).toMatchObject({ objective: 'trades', model: 'convnet-16', activation: 'silu', attackSteps: 5, epochs: 1, eps: 0.1 });
    expect(rg.START_OPTIONS.model.default).toBe('convnet-16');
    expect(rg.TRAIN_OPTIONS.model.default).toBe('smallcnn');
    expect(() => rg.trainConfig({ epochs: 0 })).toThrow(/epochs/);
  });

  it('the objective losses on their own: pgdAtLoss, tradesLoss and the TRADES attack objective match their formulas', async () => {
    const model = rg.buildModel('convnet-4', { device: dev(), generator: new rg.Generator(3) }).eval();
    const x = rg.rand([6, 1, 28, 28], { generator: new rg.Generator(4) });
    const xAdv = rg.noGrad(() => rg.clamp(rg.add(x, rg.mul(rg.randn([6, 1, 28, 28], { generator: new rg.Generator(5) }), 0.05)), 0, 1));
    const labels = [0, 3, 9, 1, 1, 7];
    const y = rg.tensor(Int32Array.from(labels));
    const [nat, adv] = [await model.forward(x).read(), await model.forward(xAdv).read()];
    const [ln, la] = [logSoftmax(nat, 10), logSoftmax(adv, 10)];
    const ce = (l: number[][]) => -l.reduce((a, row, r) => a + row[labels[r]!]!, 0) / l.length;
    const klSum = ln.reduce((a, row, r) => a + row.reduce((b, v, j) => b + Math.exp(v) * (v - la[r]![j]!), 0), 0);
    const got = async (t: rg.Tensor) => { const v = (await t.read())[0]!; t.dispose(); return v; };
    expect(await got(rg.pgdAtLoss(model, xAdv, y))).toBeCloseTo(ce(la), 5);
    expect(await got(rg.tradesLoss(model, x, xAdv, y, 6))).toBeCloseTo(ce(ln) + (6 * klSum) / 6, 5);
    const natT = model.forward(x);
    expect(await got(rg.tradesAttackObjective(model, natT)(xAdv))).toBeCloseTo(klSum, 5);
    for (const t of [natT, x, xAdv, y]) t.dispose();
    model.dispose();
  });
});
