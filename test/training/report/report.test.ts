import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns, writeRunReport } from '../../../training/report/report.js';
import { RunDirError } from '../../../training/report/runs.js';
import { checkXml, tempDir, texts, writeRun } from './fixture.js';

const svgsIn = (html: string) => [...html.matchAll(/<svg[^]*?<\/svg>/g)].map((m) => m[0]);

/** Self-contained: no scripts, no external references, ids unique over the page. */
function expectSelfContained(html: string): void {
  expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/https?:\/\//);
  expect(html).not.toMatch(/<link|@import|url\((?!#)/i);
  const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
  expect(ids.filter((id, i) => ids.indexOf(id) !== i), 'duplicate ids').toEqual([]);
}

describe('writeRunReport', () => {
  it('writes report.html with the table values, the checks, the configuration and the plots inline, and the SVGs beside it', async () => {
    const dir = writeRun(join(tempDir(), 'trades-eps0.1'));
    const r = await writeRunReport(dir);
    expect(r.files.map((f) => f.path)).toEqual([join(dir, 'report.html'), join(dir, 'loss.svg'), join(dir, 'accuracy.svg')]);
    const html = readFileSync(r.html, 'utf8');
    expect(r.files[0]!.bytes).toBe(Buffer.byteLength(html));
    expectSelfContained(html);
    for (const cell of ['<td>pgd-20</td><td class="num">52.37%</td><td class="num">34.5 s</td><td>steps 20, restarts 1, alpha 0.0125</td>',
      '<td class="num">86.12%</td>', '<td class="num">48.15%</td>', '<caption>10000 examples, linf eps 0.1, seed 0</caption>']) expect(html).toContain(cell);
    expect(html).toContain('<span class="bad">FAILED</span> more steps do not help: PGD-100 is 0.4 points below PGD-20');
    expect(html).toContain('<li>sanity check failed: more steps do not help: PGD-100 is 0.4 points below PGD-20</li>');
    expect(html).toContain('<tr><td>eps</td><td class="set">0.1</td><td>config</td></tr>');
    expect(html).toContain('<tr><td>model</td><td>smallcnn</td><td>default</td></tr>');
    expect(html).toContain('Stopped: done at step 300 (epoch 3)');
    const svgs = svgsIn(html);
    expect(svgs).toHaveLength(2);
    svgs.forEach(checkXml);
    expect(texts(svgs[0]!, 'axis-title')).toEqual(['step', 'loss']);
    expect(texts(svgs[1]!, 'axis-title')).toEqual(['epoch', 'accuracy (%)']);
    // The files are the standalone documents of the same plots (with the SVG namespace).
    expect(readFileSync(join(dir, 'loss.svg'), 'utf8').replace(' xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"', '')).toBe(svgs[0]);
    expect(r.text).toContain('pgd-20                   52.37%   34.5 s  steps 20, restarts 1, alpha 0.0125');
    expect(r.warnings).toEqual(['sanity check failed: more steps do not help: PGD-100 is 0.4 points below PGD-20']);
  });

  it('is deterministic: regenerating gives the same bytes', async () => {
    const dir = writeRun(tempDir());
    const a = readFileSync((await writeRunReport(dir)).html, 'utf8');
    const b = readFileSync((await writeRunReport(dir)).html, 'utf8');
    expect(b).toBe(a);
  });

  it('a killed run without eval.json: the truncated line is a warning in the report, the plots are still there', async () => {
    const dir = writeRun(tempDir(), { final: null });
    const metrics = join(dir, 'metrics.jsonl');
    writeFileSync(metrics, readFileSync(metrics, 'utf8').split('\n').filter((l) => !l.includes('"stop"')).join('\n'));
    appendFileSync(metrics, '{"type":"step","ep');
    const r = await writeRunReport(dir);
    const html = readFileSync(r.html, 'utf8');
    expect(html).toContain('No final evaluation (eval.json) in this run directory.');
    expect(html).toContain('Stopped: no stop record: still running, or killed');
    expect(html).toContain(`${metrics}:10: the last line is cut short`);
    expect(svgsIn(html)).toHaveLength(2);
    expect(r.warnings).toEqual([expect.stringContaining(`${metrics}:10: the last line is cut short`)]);
  });

  it('a run stopped on a non-finite step shows why, highlighted', async () => {
    const dir = writeRun(tempDir(), { final: null });
    writeFileSync(join(dir, 'metrics.jsonl'), `${JSON.stringify({ type: 'step', epoch: 0, step: 50, loss: 2.1 })}\n${JSON.stringify({ type: 'stop', reason: 'non-finite', step: 61, epoch: 0, message: 'step 61 was not finite in its loss' })}\n`);
    const html = readFileSync((await writeRunReport(dir)).html, 'utf8');
    expect(html).toContain('<p class="note">Stopped: non-finite at step 61 (epoch 0): step 61 was not finite in its loss</p>');
    expect(svgsIn(html)).toHaveLength(1);
  });

  it('names and values are escaped', async () => {
    const dir = writeRun(join(tempDir(), 'a<b>&c'));
    const html = readFileSync((await writeRunReport(dir)).html, 'utf8');
    expect(html).toContain('<h1>a&lt;b&gt;&amp;c</h1>');
    expect(html).not.toContain('a<b>');
  });

  it('a malformed run directory is a RunDirError and writes nothing', async () => {
    const dir = writeRun(tempDir());
    writeFileSync(join(dir, 'eval.json'), '{"n": 10, "rows": [{"attack": "clean"}]}');
    await expect(writeRunReport(dir)).rejects.toThrow(RunDirError);
    await expect(writeRunReport(dir)).rejects.toThrow(`${join(dir, 'eval.json')}: rows[0].accuracy: expected a number >= 0 <= 1, got nothing`);
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
  });
});

describe('compareRuns', () => {
  it('one report for several runs: the comparison table, the plane, both names in the legends, the options that differ', async () => {
    const root = tempDir();
    const dirs = [
      writeRun(join(root, 'trades')),
      writeRun(join(root, 'pgd-at'), { objective: 'pgd-at', lossScale: 1.2, final: { clean: 0.9, pgd: 0.41 } }),
      writeRun(join(root, 'unfinished'), { final: null, lr: 0.1 }),
    ];
    const out = join(root, 'cmp');
    const r = await compareRuns(dirs, out);
    expect(r.files.map((f) => f.path)).toEqual(['report.html', 'plane.svg', 'loss.svg', 'accuracy.svg'].map((f) => join(out, f)));
    const html = readFileSync(r.html, 'utf8');
    expectSelfContained(html);
    expect(html).toContain('<tr><td>trades</td><td class="num">86.12%</td><td class="num">52.37%</td><td class="num">48.15%</td><td class="num">3</td><td>done</td></tr>');
    expect(html).toContain('<tr><td>pgd-at</td><td class="num">90.00%</td><td class="num">41.00%</td><td class="num">-</td>');
    expect(html).toContain('<tr><td>lr</td><td>0.05</td><td>0.05</td><td>0.1</td></tr>');
    expect(html).toContain('not in the clean-vs-robust plot (no final clean and robust row): unfinished');
    const [plane, loss, acc] = svgsIn(html);
    expect(texts(plane!, 'mark')).toEqual(['trades', 'pgd-at']);
    expect(texts(loss!, 'legend-label')).toEqual(['trades', 'pgd-at', 'unfinished']);
    expect(texts(acc!, 'legend-label')).toEqual(['trades', 'pgd-at', 'unfinished', 'clean', 'pgd', 'train']);
    expect(r.text.split('\n')[0]).toMatch(/^run\s+clean\s+pgd-20\s+autoattack \(standard\)\s+epochs\s+stop$/);
    expect(r.text).toContain('options that differ:');
    // The strongest row differs between the runs: said, and --robust makes it one.
    expect(r.warnings).toContain('the robust accuracy plotted is not the same attack for every run: autoattack (standard), pgd-20 (robustgpu report --robust NAME picks one)');
    const same = await compareRuns(dirs, out, { robust: 'pgd' });
    expect(same.warnings.filter((w) => w.includes('not the same attack'))).toEqual([]);
  });
});
