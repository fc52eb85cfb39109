/**
 * A soup run's report: the tables (every ingredient and the soup, held-out and test; the connectivity
 * curves; per-layer coefficients) as cells for text or HTML, the clean-vs-robust plane of the held-out
 * split, and the files: soup.json (everything), plane.svg and a self-contained report.html, each written
 * whole (a temporary file renamed).
 */
import { basename } from 'node:path';
import { figures, page } from '../report/html.js';
import { planeSpec, renderSvg, type PlanePoint } from '../report/plots.js';
import { writeWhole } from '../report/report.js';
import { duration, escapeHtml, htmlTable, percent, textTable, type Table } from '../report/table.js';
import type { ConnectivityCurve, CurvePoint } from './connectivity.js';
import { describeCriterion } from './metric.js';
import type { SoupRun } from './run.js';

const coef = (v: number) => v.toFixed(3);
/** Ingredients by file name where the names differ, by their whole label otherwise. */
function shortLabels(labels: readonly string[]): string[] {
  const names = labels.map((l) => basename(l));
  return new Set(names).size === names.length ? names : [...labels];
}

/** Every ingredient and the soup: held-out clean and PGD, each final attack on the test split, the coefficients. */
export function soupTable(run: SoupRun): Table {
  const attacks = [...new Set([...run.ingredients, ...(run.soup ? [run.soup] : [])].flatMap((e) => e.test.map((r) => r.attack)))];
  const c = run.soup?.coefficients;
  const perModel = c && !Array.isArray(c[0]) ? (c as number[]) : null;
  const names = shortLabels(run.ingredients.map((e) => e.label));
  const row = (label: string, e: SoupRun['ingredients'][number], coefficient: string) => [
    label, percent(e.heldOut.clean), percent(e.heldOut.robust), ...attacks.map((a) => percent(e.test.find((r) => r.attack === a)?.accuracy)), coefficient,
  ];
  return {
    header: ['model', 'held-out clean', `held-out pgd-${run.heldOutAttack.steps}`, ...attacks.map((a) => `test ${a}`), 'coefficient'],
    rows: [
      ...run.ingredients.map((e, k) => row(names[k]!, e, perModel ? coef(perModel[k]!) : c ? 'per layer' : '-')),
      ...(run.soup ? [row(run.soup.label, run.soup, '')] : []),
    ],
  };
}

/** One row a layer (per-layer coefficients only), a column per ingredient. */
export function layerTable(run: SoupRun): Table | null {
  const s = run.soup;
  if (!s?.layers || !Array.isArray(s.coefficients[0])) return null;
  const rows = s.coefficients as number[][];
  return { header: ['layer', ...shortLabels(run.ingredients.map((e) => e.label))], rows: s.layers.map((l, r) => [l || '(root)', ...rows[r]!.map(coef)]) };
}

export function curveTable(c: ConnectivityCurve, steps: number): Table {
  return { header: ['t', 'held-out clean', `held-out pgd-${steps}`], rows: c.points.map((p) => [p.t.toFixed(2), percent(p.metrics.clean), percent(p.metrics.robust)]) };
}

/** "passed: barrier clean 0.4 points (t = 0.50), PGD 1.2 points (t = 0.40)". */
export function barrierText(c: ConnectivityCurve): string {
  const b = (x: { value: number; t: number }) => `${(100 * x.value).toFixed(1)} points (t = ${x.t.toFixed(2)})`;
  return `${c.passed ? 'passed' : 'FAILED'}: barrier clean ${b(c.barrier.clean)}, PGD ${b(c.barrier.robust)}`;
}

/** Wall times of the phases, one line. */
export function timesText(run: SoupRun): string {
  return [`connectivity check ${duration(run.connectivity.wallMs / 1000)}`, ...(run.soup ? [`${run.soup.method} soup ${duration(run.soup.wallMs / 1000)}`] : []),
    `final evaluation ${duration(run.testMs / 1000)}`, `total ${duration(run.wallMs / 1000)}`].join(', ');
}

/** What the soup is made of and how it was chosen, one line. */
export function soupText(run: SoupRun): string {
  const s = run.soup;
  if (!s) return `interpolation curve between ${run.ingredients.map((e) => e.label).join(' and ')}`;
  const c = Array.isArray(s.coefficients[0]) ? `per-layer coefficients (${s.layers?.length ?? 0} layers)` : `coefficients [${(s.coefficients as number[]).map(coef).join(', ')}]`;
  return `${s.label}: ${c}, chosen on the held-out split by ${describeCriterion(s.criterion)}; ${s.bnText}`;
}

/** The held-out plane: the ingredients and the soup as points, the interpolation curve of two ingredients. */
export function soupPlane(run: SoupRun, curve: readonly CurvePoint[] | null) {
  const names = shortLabels(run.ingredients.map((e) => e.label));
  const points: PlanePoint[] = [
    ...run.ingredients.map((e, k) => ({ label: names[k]!, clean: e.heldOut.clean, robust: e.heldOut.robust, series: 'ingredient' })),
    ...(run.soup ? [{ label: run.soup.label, clean: run.soup.heldOut.clean, robust: run.soup.heldOut.robust, series: 'soup' }] : []),
  ];
  const curves = curve ? [{ name: 'interpolation', points: curve.map((p) => p.metrics) }] : [];
  return planeSpec({ points, curves, robust: `PGD-${run.heldOutAttack.steps}, eps ${run.heldOutAttack.eps}`, title: `held-out clean vs robust accuracy (${run.split.heldOut} images)` });
}

function reportHtml(run: SoupRun, svg: string): string {
  const layers = layerTable(run);
  const testCaption = run.test.n ? `test: the first ${run.test.n} images of ${run.dataset} test` : 'no test evaluation (testN 0)';
  return page(`${run.method} soup`, [
    `<h1>${escapeHtml(run.soup ? `${run.soup.label} of ${run.ingredients.length} ingredients` : 'interpolation curve')}</h1>`,
    `<p class="meta">${escapeHtml(`${run.dataset}: held-out ${run.split.heldOut} training images (split seed ${run.split.splitSeed}${run.split.fromTrainingRun ? ", the first ingredient's training run's split" : ''}); ${run.heldOutAttack.norm} eps ${run.heldOutAttack.eps}`)}</p>`,
    `<p>${escapeHtml(soupText(run))}</p>`,
    '<h2>Ingredients and soup</h2>',
    htmlTable(soupTable(run), { caption: `held-out: clean and PGD-${run.heldOutAttack.steps}; ${testCaption}` }),
    ...(layers ? [htmlTable(layers, { caption: 'coefficients per layer' })] : []),
    ...(run.warnings.length ? ['<h2>Warnings</h2>', `<ul>\n${run.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('\n')}\n</ul>`] : []),
    '<h2>Clean vs robust</h2>',
    figures([{ id: 'plane', caption: 'held-out split; the curve: linear interpolation between the two ingredients', svg }]),
    '<h2>Linear connectivity</h2>',
    ...run.connectivity.curves.map((c) => `<h3>${escapeHtml(`${c.labels[0]} to ${c.labels[1]}`)}</h3>\n<p class="${c.passed ? 'ok' : 'bad'}">${escapeHtml(barrierText(c))}</p>\n${htmlTable(curveTable(c, run.heldOutAttack.steps))}`),
    `<p class="meta">${escapeHtml(`allowed barrier ${(100 * run.connectivity.maxBarrier).toFixed(1)} points${run.connectivity.forced ? '; failed and forced' : ''}`)}</p>`,
    '<h2>Time</h2>',
    `<p>${escapeHtml(timesText(run))}</p>`,
    `<p class="meta">${escapeHtml(`files: ${Object.values(run.files).join(', ')}`)}</p>`,
  ]);
}

/** The plain-text report: the main table, per-layer coefficients, the curve (for `curve`), times. */
export function soupReportText(run: SoupRun): string {
  const layers = layerTable(run);
  return [
    soupText(run), '', textTable(soupTable(run)),
    ...(layers ? ['', textTable(layers)] : []),
    '', ...run.connectivity.curves.flatMap((c) => [`connectivity ${c.labels[0]} to ${c.labels[1]}: ${barrierText(c)}`, ...(run.method === 'curve' ? [textTable(curveTable(c, run.heldOutAttack.steps))] : [])]),
    '', `time: ${timesText(run)}`,
  ].join('\n');
}

/** soup.json, plane.svg and report.html into the run's files (the checkpoint is written by runSoup). */
export async function writeSoupReport(run: SoupRun, curve: readonly CurvePoint[] | null): Promise<void> {
  const svg = await renderSvg(soupPlane(run, curve), 'plane', { onWarning: (m) => run.warnings.push(`plot plane: ${m}`) });
  writeWhole(run.files.svg, svg);
  writeWhole(run.files.html, reportHtml(run, svg));
  writeWhole(run.files.json, `${JSON.stringify(run, null, 2)}\n`);
}
