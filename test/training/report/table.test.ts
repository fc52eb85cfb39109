import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRun, readRuns } from '../../../training/report/runs.js';
import { comparisonTable, configDiffTable, configTable, duration, evalCaption, evalTable, htmlTable, markdownTable, settingsText, textTable, valueText } from '../../../training/report/table.js';
import { tempDir, writeRun } from './fixture.js';

describe('the final evaluation table', () => {
  const run = readRun(writeRun(tempDir()));
  const ev = run.eval!;

  it('has one row per attack: accuracy in %, time, and the settings that are not the evaluation-wide eps and norm', () => {
    expect(evalTable(ev).rows).toEqual([
      ['clean', '86.12%', '1.2 s', ''],
      ['pgd-20', '52.37%', '34.5 s', 'steps 20, restarts 1, alpha 0.0125'],
      ['autoattack (standard)', '48.15%', '10m 12s', 'version standard, attacks apgd-ce,apgd-t,fab-t,square'],
    ]);
    expect(evalCaption(ev)).toBe('10000 examples, linf eps 0.1, seed 0');
  });

  it('settings keep an eps that differs from the evaluation (W-PGD at delta eps/2)', () => {
    expect(settingsText({ eps: 0.05, norm: 'wasserstein', delta: 0.05 }, ev)).toBe('eps 0.05, norm wasserstein, delta 0.05');
  });

  it('values: numbers to 6 significant digits, lists joined, an empty list said', () => {
    expect([valueText(0.1 + 0.2), valueText(['clean', 'pgd']), valueText([]), valueText(true), valueText({ a: 1 })]).toEqual(['0.3', 'clean,pgd', '(none)', 'true', '{"a":1}']);
  });

  it('durations read as seconds, minutes or hours', () => {
    expect([duration(0.04), duration(59.94), duration(61), duration(3599.6), duration(7380), duration(undefined)]).toEqual(['0.0 s', '59.9 s', '1m 01s', '1h 00m', '2h 03m', '-']);
  });

  it('plain text aligns accuracies right and settings left', () => {
    expect(textTable(evalTable(ev)).split('\n')).toEqual([
      'attack                 accuracy     time  settings',
      `---------------------  --------  -------  ${'-'.repeat('version standard, attacks apgd-ce,apgd-t,fab-t,square'.length)}`,
      'clean                    86.12%    1.2 s',
      'pgd-20                   52.37%   34.5 s  steps 20, restarts 1, alpha 0.0125',
      'autoattack (standard)    48.15%  10m 12s  version standard, attacks apgd-ce,apgd-t,fab-t,square',
    ]);
  });

  it('Markdown has a right-aligned separator for numbers and escapes pipes', () => {
    const md = markdownTable({ header: ['a|b', 'n'], rows: [['x|y', '1']] });
    expect(md).toBe('| a\\|b | n |\n| --- | ---: |\n| x\\|y | 1 |');
    expect(markdownTable(evalTable(ev)).split('\n')[3]).toBe('| pgd-20 | 52.37% | 34.5 s | steps 20, restarts 1, alpha 0.0125 |');
  });

  it('HTML escapes cells and marks numeric columns', () => {
    const html = htmlTable({ header: ['attack', 'accuracy'], rows: [['<pgd> & "x"', '1%']] }, { caption: 'a<b' });
    expect(html).toContain('<caption>a&lt;b</caption>');
    expect(html).toContain('<td>&lt;pgd&gt; &amp; &quot;x&quot;</td><td class="num">1%</td>');
    expect(html).toContain('<th class="num">accuracy</th>');
  });

  it('the configuration table gives each value with its source', () => {
    expect(configTable(run.config).rows).toEqual([
      ['model', 'smallcnn', 'default'], ['objective', 'trades', 'default'], ['eps', '0.1', 'config'], ['lr', '0.05', 'default'], ['epochs', '3', 'flag'], ['batch', '128', 'default'],
    ]);
  });
});

describe('comparing runs', () => {
  const root = tempDir();
  const runs = readRuns([
    writeRun(join(root, 'trades'), { lr: 0.1 }),
    writeRun(join(root, 'pgd-at'), { objective: 'pgd-at', final: { clean: 0.9, pgd: 0.41 } }),
    writeRun(join(root, 'no-eval'), { final: null }),
  ]);

  it('one row a run with the union of the attacks as columns; a missing accuracy is -', () => {
    const t = comparisonTable(runs);
    expect(t.header).toEqual(['run', 'clean', 'pgd-20', 'autoattack (standard)', 'epochs', 'stop']);
    expect(t.rows).toEqual([
      ['trades', '86.12%', '52.37%', '48.15%', '3', 'done'],
      ['pgd-at', '90.00%', '41.00%', '-', '3', 'done'],
      ['no-eval', '-', '-', '-', '3', 'done'],
    ]);
  });

  it('the configuration difference lists only the options that differ', () => {
    const t = configDiffTable(runs);
    expect(t.header).toEqual(['option', 'trades', 'pgd-at', 'no-eval']);
    expect(t.rows).toEqual([['objective', 'trades', 'pgd-at', 'trades'], ['lr', '0.1', '0.05', '0.05']]);
  });
});
