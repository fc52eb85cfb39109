/**
 * The report's tables, built once as cells and written as plain text (cli/table.ts), Markdown or HTML: the
 * final evaluation (attack, accuracy in %, time, settings), a run's configuration with where each value came
 * from, a comparison of runs, and the options in which runs differ.
 */
import { table } from '../../cli/table.js';
import type { LoadedRun, RunConfigFile, RunEval } from './runs.js';
import type { OtherResult } from './plots.js';

export interface Table {
  header: string[];
  rows: string[][];
  /** Per column; the default is left for the first column and right for the others. */
  align?: ('left' | 'right')[];
}

export const percent = (a: number | null | undefined): string => (a === null || a === undefined ? '-' : `${(100 * a).toFixed(2)}%`);

/** 1.2 s, 4m 05s, 2h 03m. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A configuration or settings value in one short cell. */
export function valueText(v: unknown): string {
  if (typeof v === 'number') return String(Number(v.toPrecision(6)));
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return v.length ? v.map(valueText).join(',') : '(none)';
  return JSON.stringify(v) ?? String(v);
}

/**
 * A row's settings as `key value` pairs: scalars and lists of scalars; nested records (such as AutoAttack's
 * accuracy after each attack) are left to eval.json. eps and norm are left out where the evaluation's own say the same.
 */
export function settingsText(settings: Record<string, unknown>, ev?: Pick<RunEval, 'eps' | 'norm'>): string {
  return Object.entries(settings)
    .filter(([k, v]) => !((k === 'eps' && v === ev?.eps) || (k === 'norm' && v === ev?.norm)))
    .filter(([, v]) => (typeof v !== 'object' || v === null) || (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)))
    .map(([k, v]) => `${k} ${valueText(v)}`)
    .join(', ');
}

/** What the accuracies are of: `10000 examples, linf eps 0.1, seed 0`. */
export function evalCaption(ev: RunEval): string {
  const threat = [ev.norm, ev.eps !== undefined ? `eps ${valueText(ev.eps)}` : ''].filter(Boolean).join(' ');
  return [`${ev.n} examples`, threat, ev.seed !== undefined ? `seed ${ev.seed}` : ''].filter(Boolean).join(', ');
}

export function evalTable(ev: RunEval): Table {
  return {
    header: ['attack', 'accuracy', 'time', 'settings'],
    rows: ev.rows.map((r) => [r.attack, percent(r.accuracy), duration(r.seconds), settingsText(r.settings, ev)]),
    align: ['left', 'right', 'right', 'left'],
  };
}

export function configTable(c: RunConfigFile): Table {
  return {
    header: ['option', 'value', 'source'],
    rows: Object.entries(c.resolved).map(([k, v]) => [k, valueText(v), c.sources[k] ?? '-']),
    align: ['left', 'left', 'left'],
  };
}

/** The final evaluation's attacks in order of first appearance over the runs. */
export function attacksOf(runs: readonly LoadedRun[]): string[] {
  return [...new Set(runs.flatMap((r) => r.eval?.rows.map((row) => row.attack) ?? []))];
}

/** One row a run: its final accuracies (attacks as columns), epochs done and why it stopped. */
export function comparisonTable(runs: readonly LoadedRun[]): Table {
  const attacks = attacksOf(runs);
  return {
    header: ['run', ...attacks, 'epochs', 'stop'],
    rows: runs.map((r) => [
      r.name,
      ...attacks.map((a) => percent(r.eval?.rows.find((row) => row.attack === a)?.accuracy)),
      String(r.epochs.length),
      r.stops.at(-1)?.reason ?? 'none (running or killed)',
    ]),
    align: ['left', ...attacks.map(() => 'right' as const), 'right', 'left'],
  };
}

/** One row per other job (a sweep's soups and evaluations): its final accuracies, attacks as columns. */
export function otherTable(others: readonly OtherResult[]): Table {
  const attacks = [...new Set(others.flatMap((o) => Object.keys(o.metrics)))];
  return {
    header: ['job', 'kind', ...attacks],
    rows: others.map((o) => [o.label, o.kind, ...attacks.map((a) => percent(o.metrics[a]))]),
    align: ['left', 'left', ...attacks.map(() => 'right' as const)],
  };
}

/** The options whose resolved values are not the same in every run (a run lacking the key shows '-'). */
export function configDiffTable(runs: readonly LoadedRun[]): Table {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config.resolved)))];
  const cell = (r: LoadedRun, k: string) => (Object.hasOwn(r.config.resolved, k) ? valueText(r.config.resolved[k]) : '-');
  return {
    header: ['option', ...runs.map((r) => r.name)],
    rows: keys.filter((k) => new Set(runs.map((r) => cell(r, k))).size > 1).map((k) => [k, ...runs.map((r) => cell(r, k))]),
    align: ['left', ...runs.map(() => 'left' as const)],
  };
}

const alignOf = (t: Table, i: number) => t.align?.[i] ?? (i === 0 ? 'left' : 'right');

export function textTable(t: Table): string {
  return table(t.header, t.rows, t.header.map((_, i) => alignOf(t, i)));
}

export function markdownTable(t: Table): string {
  const cell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const line = (r: string[]) => `| ${r.map(cell).join(' | ')} |`;
  return [line(t.header), `|${t.header.map((_, i) => (alignOf(t, i) === 'right' ? ' ---: ' : ' --- ')).join('|')}|`, ...t.rows.map(line)].join('\n');
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** An HTML <table>; `cellClass` may add a class to a body cell (e.g. a value that is not a default). */
export function htmlTable(t: Table, opts: { caption?: string; cellClass?: (row: number, col: number) => string | undefined } = {}): string {
  const cls = (i: number) => (alignOf(t, i) === 'right' ? ' class="num"' : '');
  const body = t.rows.map((r, ri) => `<tr>${r.map((c, i) => {
    const extra = opts.cellClass?.(ri, i);
    const classes = [alignOf(t, i) === 'right' ? 'num' : '', extra ?? ''].filter(Boolean).join(' ');
    return `<td${classes ? ` class="${classes}"` : ''}>${escapeHtml(c)}</td>`;
  }).join('')}</tr>`);
  return ['<table>', opts.caption ? `<caption>${escapeHtml(opts.caption)}</caption>` : '',
    `<thead><tr>${t.header.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${body.join('')}</tbody>`, '</table>'].filter(Boolean).join('\n');
}

/** One row an epoch: mean loss and training accuracy, each held-out evaluation, time. */
export function epochsTable(run: LoadedRun): Table {
  const metrics = [...new Set(run.epochs.flatMap((e) => Object.keys(e.eval ?? {})))];
  return {
    header: ['epoch', 'loss', 'train', ...metrics, 'time'],
    rows: run.epochs.map((e) => [
      String(e.epoch + 1), e.loss === null ? 'non-finite' : valueText(Number(e.loss.toPrecision(4))), percent(e.trainAccuracy),
      ...metrics.map((m) => percent(e.eval?.[m])), duration(e.seconds),
    ]),
  };
}
