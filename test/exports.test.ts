/**
 * The package's entry point (index.ts) exports what the CLI uses, so that everything the CLI does is
 * importable: training, evaluation, the attacks, reports, soups, and the option declarations.
 */
import { describe, expect, it } from 'vitest';
import * as rg from '../index.js';

describe("the package's exports", () => {
  it('hold the functions behind every command', () => {
    const fns = ['train', 'trainConfig', 'readRunConfig', 'fit', 'evaluate', 'autoAttack', 'apgd', 'apgdTargeted', 'fab', 'square', 'pgdAttack',
      'wpgd', 'greedyW', 'distributionalAccuracy', 'writeRunReport', 'compareRuns', 'modelFromCheckpoint', 'saveCheckpoint', 'loadCheckpoint',
      'runAudit', 'loadDataset', 'DataLoader', 'tradesObjective', 'wTradesObjective', 'pgdAtObjective', 'standardObjective', 'withDefaults',
      'greedySoup', 'learnedSoup', 'runSoup', 'writeSoupReport', 'grad', 'valueAndGrad', 'gather', 'compactIndices'] as const;
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
});
