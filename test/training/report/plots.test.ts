import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TopLevelSpec } from 'vega-lite';
import { accuracySpec, lossSpec, planeSpec, renderSvg, runPoints } from '../../../training/report/plots.js';
import { readRun, readRuns } from '../../../training/report/runs.js';
import { checkXml, CLEAN, PGD, tempDir, texts, writeRun } from './fixture.js';

async function render(spec: TopLevelSpec | null, id: string): Promise<string> {
  expect(spec).not.toBeNull();
  const warnings: string[] = [];
  const svg = await renderSvg(spec!, id, { onWarning: (m) => warnings.push(m) });
  expect(warnings, `vega warnings for ${id}`).toEqual([]);
  return svg;
}

describe('plots', () => {
  const root = tempDir();
  const one = readRun(writeRun(join(root, 'trades-eps0.1')));
  const two = readRuns([join(root, 'trades-eps0.1'), writeRun(join(root, 'pgd-at'), { lossScale: 1.3, objective: 'pgd-at', final: { clean: 0.9, pgd: 0.41 } })]);

  it('the loss plot is an SVG with the title and axis titles, one line point per logged step', async () => {
    const spec = lossSpec([one]);
    const layers = (spec as { layer: { data: { values: { step: number; loss: number }[] } }[] }).layer;
    expect(layers[0]!.data.values.map((v) => v.step)).toEqual(one.steps.map((s) => s.step));
    expect(layers[1]!.data.values.map((v) => v.loss)).toEqual(one.epochs.map((e) => e.loss));
    const svg = await render(spec, 'loss');
    expect(checkXml(svg)).toBeGreaterThan(50);
    expect(texts(svg, 'title-text')).toEqual(['training loss']);
    expect(texts(svg, 'axis-title')).toEqual(['step', 'loss']);
    expect(texts(svg, 'legend-label'), 'one run: no legend').toEqual([]);
  });

  it('rendering is deterministic: the same input gives the same bytes, whatever was rendered before', async () => {
    const a = await render(lossSpec([one]), 'loss');
    await render(accuracySpec(two), 'other');
    expect(await render(lossSpec([one]), 'loss')).toBe(a);
    // Clip paths are numbered by vega from a process-wide counter: renumbered under the plot's id.
    const clipped: TopLevelSpec = { data: { values: [{ x: 0, y: 1 }, { x: 2, y: 3 }] }, mark: { type: 'line', clip: true }, encoding: { x: { field: 'x', type: 'quantitative', scale: { domain: [0, 1] } }, y: { field: 'y', type: 'quantitative' } } };
    const c1 = await render(clipped, 'clipped');
    const c2 = await render(clipped, 'clipped');
    expect(c1).toBe(c2);
    expect(c1).toContain('<clipPath id="clipped-1">');
    expect(c1).toContain('clip-path="url(#clipped-1)"');
    await expect(renderSvg(clipped, '1 bad')).rejects.toThrow(/id must be a letter/);
  });

  it('the accuracy plot shows clean, robust and train accuracy in % per epoch (from 1)', async () => {
    const spec = accuracySpec([one]) as { data: { values: { epoch: number; metric: string; accuracy: number }[] } };
    const pgd = spec.data.values.filter((v) => v.metric === 'pgd');
    expect(pgd.map((v) => v.epoch)).toEqual([1, 2, 3]);
    pgd.forEach((v, i) => expect(v.accuracy).toBeCloseTo(100 * PGD[i]!, 10));
    spec.data.values.filter((v) => v.metric === 'clean').forEach((v, i) => expect(v.accuracy).toBeCloseTo(100 * CLEAN[i]!, 10));
    const svg = await render(accuracySpec([one]), 'accuracy');
    checkXml(svg);
    expect(texts(svg, 'axis-title')).toEqual(['epoch', 'accuracy (%)']);
    expect(texts(svg, 'legend-label')).toEqual(['clean', 'pgd', 'train']);
    expect(texts(svg, 'axis-label')).toContain('100');
  });

  it('two runs overlaid: both names in the legend of the loss and the accuracy plot, metrics as dashes', async () => {
    const loss = await render(lossSpec(two), 'loss');
    checkXml(loss);
    expect(texts(loss, 'legend-label')).toEqual(['trades-eps0.1', 'pgd-at']);
    const acc = await render(accuracySpec(two), 'accuracy');
    checkXml(acc);
    expect(texts(acc, 'legend-label')).toEqual(['trades-eps0.1', 'pgd-at', 'clean', 'pgd', 'train']);
    expect(acc).toContain('stroke-dasharray');
  });

  it('past 50 epochs the plots are lines only (points would be most of the bytes)', async () => {
    const long = readRun(writeRun(join(root, 'long'), { epochs: 60, stepsPerEpoch: 50 }));
    const loss = lossSpec([long]) as { title: { subtitle: string }; layer: unknown[] };
    expect(loss.layer).toHaveLength(1);
    expect(loss.title.subtitle).toBe('mean over each log interval');
    expect((accuracySpec([long]) as { layer: unknown[] }).layer).toHaveLength(1);
    expect((accuracySpec([one]) as { layer: unknown[] }).layer).toHaveLength(2);
    const svg = await render(accuracySpec([long]), 'accuracy');
    expect(svg.length).toBeLessThan(30_000);
  });

  it('nothing logged gives no loss or accuracy plot rather than empty axes', () => {
    const bare = { ...one, steps: [], epochs: [] };
    expect(lossSpec([bare])).toBeNull();
    expect(accuracySpec([bare])).toBeNull();
  });
});

describe('the clean-vs-robust plane', () => {
  const root = tempDir();
  const runs = readRuns([writeRun(join(root, 'a')), writeRun(join(root, 'b'), { final: { clean: 0.9, pgd: 0.41 } }), writeRun(join(root, 'c'), { final: null })]);

  it("runPoints takes each run's clean and strongest robust row, or the one named, and lists runs without them", () => {
    expect(runPoints(runs)).toEqual({
      points: [{ label: 'a', clean: 0.8612, robust: 0.4815 }, { label: 'b', clean: 0.9, robust: 0.41 }],
      robust: ['autoattack (standard)', 'pgd-20'], skipped: ['c'],
    });
    expect(runPoints(runs, 'pgd').points.map((p) => p.robust)).toEqual([0.5237, 0.41]);
    expect(runPoints(runs, 'pgd-20').robust).toEqual(['pgd-20']);
    expect(runPoints(runs, 'square').skipped).toEqual(['a', 'b', 'c']);
  });

  it('a sweep: labelled points, no legend for a single series', async () => {
    const { points } = runPoints(runs, 'pgd');
    const svg = await render(planeSpec({ points, robust: 'pgd-20' }), 'plane');
    checkXml(svg);
    expect(texts(svg, 'axis-title')).toEqual(['clean accuracy (%)', 'robust accuracy (%)']);
    expect(texts(svg, 'title-subtitle')).toEqual(['robust: pgd-20']);
    expect(texts(svg, 'mark'), 'point labels').toEqual(['a', 'b']);
    expect(texts(svg, 'legend-label')).toEqual([]);
  });

  it('a soup: interpolation curve, ingredient points and labelled soup points, with a legend', async () => {
    const curve = Array.from({ length: 11 }, (_, i) => ({ clean: 0.9 - 0.01 * i, robust: 0.3 + 0.02 * i }));
    const spec = planeSpec({
      points: [{ label: 'A', clean: 0.9, robust: 0.3, series: 'ingredient' }, { label: 'B', clean: 0.8, robust: 0.5, series: 'ingredient' }, { label: 'uniform soup', clean: 0.86, robust: 0.45, series: 'soup' }],
      curves: [{ name: 'interpolation', points: curve }],
    });
    const svg = await render(spec, 'soup');
    checkXml(svg);
    expect(texts(svg, 'legend-label')).toEqual(['interpolation', 'ingredient', 'soup']);
    expect(texts(svg, 'mark'), 'point labels').toEqual(['A', 'B', 'uniform soup']);
    // The curve passes through its 11 points, the first where ingredient A is drawn.
    const d = /<g class="mark-line role-mark[^>]*><path[^>]* d="([^"]*)"/.exec(svg)![1]!;
    const vertices = d.split(/[ML]/).filter(Boolean).map((v) => v.split(',').map(Number));
    expect(vertices).toHaveLength(11);
    const a = /<g class="mark-symbol role-mark layer_1_marks"[^>]*><path[^>]* transform="translate\(([\d.]+),([\d.]+)\)"/.exec(svg)!;
    expect(vertices[0]![0]).toBeCloseTo(Number(a[1]), 2);
    expect(vertices[0]![1]).toBeCloseTo(Number(a[2]), 2);
  });
});
