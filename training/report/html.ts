/**
 * Self-contained HTML reports: one file with inline CSS and inline SVG, no scripts and no external URLs, so
 * that it opens anywhere (a copied run directory, a browser without network). A run's report shows why it
 * stopped, the final evaluation, its checks and warnings, the plots, the epochs and the configuration with
 * where each value came from; a comparison report shows the runs side by side.
 */
import { configDiffTable, configTable, comparisonTable, epochsTable, escapeHtml, evalCaption, evalTable, htmlTable, type Table } from './table.js';
import { finalStop, type LoadedRun } from './runs.js';

/** A rendered plot to place in a report. */
export interface Figure { id: string; caption: string; svg: string }

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
caption { text-align: left; color: #555; padding-bottom: 0.3em; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { border-bottom: 1px solid #bbb; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.set { font-weight: 600; }
.ok { color: #1a7f37; }
.bad { color: #c62828; font-weight: 600; }
.note { background: #fff4e5; border-left: 4px solid #f0a020; padding: 0.4em 0.8em; margin: 0.5em 0; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
ul { padding-left: 1.4em; }
`;

/** The SVG for inlining: the namespace attributes an HTML parser supplies itself are dropped. */
function inlineSvg(svg: string): string {
  return svg.replace(/^<svg([^>]*?) xmlns="[^"]*"/, '<svg$1').replace(/^<svg([^>]*?) xmlns:xlink="[^"]*"/, '<svg$1');
}

/** A whole self-contained page: the report's CSS, `body` joined by lines. */
export function page(title: string, body: string[]): string {
  return ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">', `<title>${escapeHtml(title)}</title>`, `<style>${CSS}</style>`, '</head>', '<body>',
    ...body, '</body>', '</html>', ''].join('\n');
}

/** Plots side by side, each with its caption. */
export function figures(figs: readonly Figure[]): string {
  return `<div class="figures">\n${figs.map((f) => `<figure id="${f.id}">\n${inlineSvg(f.svg)}\n<figcaption>${escapeHtml(f.caption)}</figcaption>\n</figure>`).join('\n')}\n</div>`;
}

const list = (items: readonly string[]) => `<ul>\n${items.map((w) => `<li>${escapeHtml(w)}</li>`).join('\n')}\n</ul>`;

/** "done at step 300 (epoch 3)", with the stop message if any. */
export function stopText(run: LoadedRun): string {
  const s = finalStop(run);
  if (!s) return 'no stop record: still running, or killed';
  return `${s.reason} at step ${s.step} (epoch ${s.epoch})${s.message ? `: ${s.message}` : ''}`;
}

function checksHtml(run: LoadedRun): string[] {
  const checks = run.eval?.checks ?? [];
  if (!checks.length) return [];
  return ['<h2>Checks</h2>', `<ul>\n${checks.map((c) => `<li><span class="${c.ok ? 'ok' : 'bad'}">${c.ok ? 'ok' : 'FAILED'}</span> ${escapeHtml(c.name)}${c.detail ? `: ${escapeHtml(c.detail)}` : ''}</li>`).join('\n')}\n</ul>`];
}

/**
 * Everything a run's readers should be told: its evaluation's warnings, failed checks (evaluate() words each
 * as a warning already; one that no warning names is added) and what was tolerated reading the directory.
 */
export function runWarnings(run: LoadedRun): string[] {
  const w = run.eval?.warnings ?? [];
  const failed = (run.eval?.checks ?? []).filter((c) => !c.ok && !w.some((x) => x.includes(c.name)));
  return [...w, ...failed.map((c) => `check failed: ${c.name}${c.detail ? `: ${c.detail}` : ''}`), ...run.warnings];
}

export function runReportHtml(run: LoadedRun, figs: readonly Figure[], notes: readonly string[] = []): string {
  const c = run.config;
  const meta = [c.command, c.version ? `robustgpu ${c.version}` : '', c.started ? `started ${c.started}` : ''].filter(Boolean).join(' · ');
  const stop = finalStop(run);
  const warnings = [...runWarnings(run), ...notes];
  return page(`${run.name}: run report`, [
    `<h1>${escapeHtml(run.name)}</h1>`,
    `<p class="meta">${escapeHtml(meta)}</p>`,
    `<p${stop && stop.reason !== 'done' ? ' class="note"' : ''}>Stopped: ${escapeHtml(stopText(run))}</p>`,
    '<h2>Final evaluation</h2>',
    run.eval ? htmlTable(evalTable(run.eval), { caption: evalCaption(run.eval) }) : '<p>No final evaluation (eval.json) in this run directory.</p>',
    ...checksHtml(run),
    ...(warnings.length ? ['<h2>Warnings</h2>', list(warnings)] : []),
    '<h2>Training</h2>',
    figs.length ? figures(figs) : '<p>Nothing logged yet.</p>',
    ...(run.epochs.length ? [htmlTable(epochsTable(run), { caption: 'per epoch (held-out accuracies)' })] : []),
    '<h2>Configuration</h2>',
    htmlTable(configTable(c), { caption: 'resolved options; set ones (config file or flag) in bold', cellClass: (r, col) => (col === 1 && (c.sources[Object.keys(c.resolved)[r]!] ?? 'default') !== 'default' ? 'set' : undefined) }),
    `<p class="meta">Run directory: ${escapeHtml(run.dir)}</p>`,
  ]);
}

export function comparisonHtml(runs: readonly LoadedRun[], figs: readonly Figure[], notes: readonly string[] = [], others: Table | null = null): string {
  const diff = configDiffTable(runs);
  const perRun = runs.map((r) => ({ r, w: runWarnings(r) })).filter((x) => x.w.length);
  return page(`comparison of ${runs.length} runs`, [
    `<h1>Comparison of ${runs.length} runs</h1>`,
    `<p class="meta">${runs.map((r) => escapeHtml(r.name)).join(' · ')}</p>`,
    '<h2>Final evaluation</h2>',
    htmlTable(comparisonTable(runs), { caption: 'accuracy on the final evaluation of each run (eval.json); - where a run has no such row' }),
    ...(notes.length ? [list(notes)] : []),
    ...(others ? ['<h2>Other jobs</h2>', htmlTable(others, { caption: 'the soups and evaluations of the sweep (job.json): accuracy per row' })] : []),
    '<h2>Plots</h2>',
    figs.length ? figures(figs) : '<p>Nothing logged yet.</p>',
    '<h2>Options that differ</h2>',
    diff.rows.length ? htmlTable(diff) : '<p>The runs have the same resolved options.</p>',
    ...(perRun.length ? ['<h2>Warnings</h2>', ...perRun.map(({ r, w }) => `<h3>${escapeHtml(r.name)}</h3>\n${list(w)}`)] : []),
    '<h2>Runs</h2>',
    list(runs.map((r) => `${r.name}: ${r.dir}, stopped: ${stopText(r)}`)),
  ]);
}
