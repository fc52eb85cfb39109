/**
 * Writing reports: a run's report.html and plots into its directory (what the training loop calls at the
 * end of a run, and `robustgpu report RUN_DIR`), or a comparison of several runs into a folder of its own.
 * Files are written whole or not at all (a temporary file renamed), so a report being rewritten while
 * someone opens it is never half there.
 */
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { comparisonHtml, runReportHtml, runWarnings, stopText, type Figure } from './html.js';
import { accuracySpec, lossSpec, planeSpec, renderSvg, runPoints, type OtherResult } from './plots.js';
import { readRun, readRuns, type LoadedRun } from './runs.js';
import { comparisonTable, configDiffTable, evalCaption, evalTable, otherTable, textTable } from './table.js';
import type { TopLevelSpec } from 'vega-lite';

export interface ReportResult {
  /** The report.html written. */
  html: string;
  /** Every file written (report.html first), with its size in bytes. */
  files: { path: string; bytes: number }[];
  /** The table(s) as plain text, for a terminal. */
  text: string;
  /** What a reader should know: the runs' warnings and anything left out of the plots. */
  warnings: string[];
  runs: LoadedRun[];
}

/** Writes `content` to a temporary file beside `path` and renames it over `path`. */
export function writeWhole(path: string, content: string): { path: string; bytes: number } {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
  return { path, bytes: statSync(path).size };
}

/** Renders the non-null specs; vega's warnings become the report's warnings. */
async function renderAll(specs: [id: string, caption: string, spec: TopLevelSpec | null][], warnings: string[]): Promise<Figure[]> {
  const figs: Figure[] = [];
  for (const [id, caption, spec] of specs) {
    if (spec) figs.push({ id, caption, svg: await renderSvg(spec, id, { onWarning: (m) => warnings.push(`plot ${id}: ${m}`) }) });
  }
  return figs;
}

function writeFigures(outDir: string, html: string, figs: readonly Figure[]): ReportResult['files'] {
  mkdirSync(outDir, { recursive: true });
  return [writeWhole(join(outDir, 'report.html'), html), ...figs.map((f) => writeWhole(join(outDir, `${f.id}.svg`), f.svg))];
}

/** The final evaluation as text: why the run stopped, the caption and the table. */
function runText(run: LoadedRun): string {
  return [`${run.name}: stopped: ${stopText(run)}`,
    ...(run.eval ? [`final evaluation: ${evalCaption(run.eval)}`, textTable(evalTable(run.eval))] : ['no final evaluation (eval.json)'])].join('\n');
}

/**
 * A run's report: RUN_DIR/report.html (or outDir/report.html) with loss.svg and accuracy.svg beside it.
 * Throws RunDirError for a missing or malformed run directory.
 */
export async function writeRunReport(runDir: string, opts: { outDir?: string } = {}): Promise<ReportResult> {
  const run = readRun(runDir);
  const notes: string[] = [];
  const figs = await renderAll([
    ['loss', 'training loss', lossSpec([run])],
    ['accuracy', 'accuracy per epoch', accuracySpec([run])],
  ], notes);
  const files = writeFigures(opts.outDir ?? runDir, runReportHtml(run, figs, notes), figs);
  return { html: files[0]!.path, files, text: runText(run), warnings: [...runWarnings(run), ...notes], runs: [run] };
}

/**
 * Several runs compared in outDir: report.html with the comparison table, the options that differ, the
 * clean-vs-robust plane (final evaluations) and the loss and accuracy plots overlaid.
 */
export async function compareRuns(runDirs: readonly string[], outDir: string, opts: { robust?: string; others?: readonly OtherResult[] } = {}): Promise<ReportResult> {
  const runs = readRuns(runDirs);
  const others = opts.others ?? [];
  const warnings = runs.flatMap((r) => runWarnings(r).map((w) => `${r.name}: ${w}`));
  const notes: string[] = [];
  const plane = runPoints(runs, opts.robust, others);
  if (plane.skipped.length) notes.push(`not in the clean-vs-robust plot (no final clean and ${opts.robust ?? 'robust'} row): ${plane.skipped.join(', ')}`);
  if (plane.robust.length > 1) notes.push(`the robust accuracy plotted is not the same attack for every run: ${plane.robust.join(', ')} (robustgpu report --robust NAME picks one)`);
  const figs = await renderAll([
    ['plane', 'final clean vs robust accuracy', plane.points.length ? planeSpec({ points: plane.points, robust: plane.robust.join(', ') }) : null],
    ['loss', 'training loss', lossSpec(runs)],
    ['accuracy', 'accuracy per epoch', accuracySpec(runs)],
  ], notes);
  const others_ = others.length ? otherTable(others) : null;
  const files = writeFigures(outDir, comparisonHtml(runs, figs, notes, others_), figs);
  const diff = configDiffTable(runs);
  const text = [textTable(comparisonTable(runs)), ...(others_ ? ['', 'other jobs:', textTable(others_)] : []), ...(diff.rows.length ? ['', 'options that differ:', textTable(diff)] : [])].join('\n');
  return { html: files[0]!.path, files, text, warnings: [...warnings, ...notes], runs };
}
