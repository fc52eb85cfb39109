/**
 * The one row type every suite produces (the peer comparison in bench/peers/ too), and the one printer for
 * the table and the JSON document. Fractions of peak are filled in by `applyPeak` once the whole run is over,
 * because the arithmetic peak is the best matmul seen in the run, which may come after the row.
 */

export interface BenchRow {
  /** 'peak', 'matmul', 'conv2d', 'batchnorm', 'activation', 'loss', 'pgd', 'optim', 'step', 'attack', 'epoch', or a peer's. */
  suite: string;
  name: string;
  /** Shape or parameters, as text. */
  shape: string;
  /** Median time of one repetition, by `clock` (see the header's timing method). */
  medianMs: number;
  /** 'gpu': GPU timestamp queries; 'wall': wall clock from recording to queue completion. */
  clock: 'gpu' | 'wall';
  /** Median wall time of one repetition (when medianMs is the GPU's). */
  wallMs?: number;
  /** Timed repetitions the median is over. */
  reps: number;
  minMs?: number;
  /** Median CPU time of this process per repetition, all threads (on lavapipe: the GPU work itself, mostly). */
  cpuMs?: number;
  /** FLOPs of one repetition (2 per multiply-add), where it is defined. */
  flops?: number;
  /** Bytes one repetition must move at least: each tensor read or written once. */
  bytes?: number;
  gflops?: number;
  gbps?: number;
  fracPeakFlops?: number;
  fracPeakBw?: number;
  /** Whole steps: images per second. */
  imagesPerSec?: number;
  /** Per repetition, from Device.stats() (the closing sync's flush included). */
  dispatches?: number;
  submissions?: number;
  notes?: string;
  /** Our throughput as a fraction of a reference engine's on the same row (its time / ours; bench/reference.ts). */
  ofReference?: number;
}

export interface BenchPeak {
  /** Best bandwidth of the copy probes, GB/s (bytes read + bytes written). */
  gbps: number;
  gbpsFrom: string;
  /** Best matmul GFLOP/s seen in the run. */
  gflops: number;
  gflopsFrom: string;
}

/** A measured ratio against its target (a report, not an assertion). */
export interface TargetCheck {
  what: string;
  config: string;
  /** On the median times (GPU timestamps where the adapter has them). */
  ratio: number;
  /** The same ratio on the median wall times, when `ratio` is on GPU times. */
  wallRatio?: number;
  /** The same ratio on the median CPU times: on a CPU adapter, a check less disturbed by other load. */
  cpuRatio?: number;
  limit: number;
  /** '<=' or '<'. */
  op: '<=' | '<';
  pass: boolean;
  detail: string;
}

export interface BenchHeader {
  date: string;
  adapter: { vendor: string; architecture: string; description: string; backend: string };
  timing: string;
  node: string;
  mode: 'quick' | 'full';
  filter: string[] | null;
  /** The kernel variant forced for matmul and conv2d (bench --kernel), or absent: the normal selection. */
  kernel?: string;
  /** Dawn toggles of the device (bench --fast). */
  toggles?: string[];
  /** The reference run joined to the rows ('of ref' column), when one was given. */
  reference?: { engine: string; device: string; date: string; precision: string; timing: string; file: string; matched: number };
}

export interface BenchReport {
  header: BenchHeader;
  peak: BenchPeak | null;
  rows: BenchRow[];
  targets: TargetCheck[];
  /** Cases that were selected but could not run (e.g. out of memory), with the reason. */
  skipped: { suite: string; name: string; reason: string }[];
}

/** Fills in GFLOP/s, GB/s and images/s from the counts (the one place these are computed). */
export function withRates(row: BenchRow, images?: number): BenchRow {
  const s = row.medianMs / 1e3;
  const out: BenchRow = { ...row };
  if (row.flops !== undefined) out.gflops = row.flops / s / 1e9;
  if (row.bytes !== undefined) out.gbps = row.bytes / s / 1e9;
  if (images !== undefined) out.imagesPerSec = images / s;
  return out;
}

/** The peak is the best copy and the best matmul of the run; every row gets its fractions of it. */
export function applyPeak(rows: BenchRow[]): BenchPeak | null {
  const best = (pick: (r: BenchRow) => number | undefined, suites: string[]) => {
    let top: BenchRow | null = null;
    for (const r of rows) if (suites.includes(r.suite) && (pick(r) ?? 0) > (top ? pick(top)! : 0)) top = r;
    return top;
  };
  const bw = best((r) => r.gbps, ['peak']);
  const fl = best((r) => r.gflops, ['peak', 'matmul']);
  if (!bw || !fl) return null;
  const peak: BenchPeak = { gbps: bw.gbps!, gbpsFrom: `${bw.suite} ${bw.name}`, gflops: fl.gflops!, gflopsFrom: `${fl.suite} ${fl.name}` };
  for (const r of rows) {
    if (r.gflops !== undefined) r.fracPeakFlops = r.gflops / peak.gflops;
    if (r.gbps !== undefined) r.fracPeakBw = r.gbps / peak.gbps;
  }
  return peak;
}

const num = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));
const pct = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '' : `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`);
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

const COLUMNS: { head: string; cell: (r: BenchRow) => string; left?: boolean }[] = [
  { head: 'suite', cell: (r) => r.suite, left: true },
  { head: 'name', cell: (r) => r.name, left: true },
  { head: 'shape / params', cell: (r) => r.shape, left: true },
  { head: 'median ms', cell: (r) => ms(r.medianMs) },
  { head: 'clock', cell: (r) => r.clock, left: true },
  { head: 'wall ms', cell: (r) => (r.wallMs === undefined ? '' : ms(r.wallMs)) },
  { head: 'cpu ms', cell: (r) => (r.cpuMs === undefined ? '' : ms(r.cpuMs)) },
  { head: 'reps', cell: (r) => String(r.reps) },
  { head: 'GFLOP/s', cell: (r) => num(r.gflops, 2) },
  { head: 'GB/s', cell: (r) => num(r.gbps, 2) },
  { head: 'peak F', cell: (r) => pct(r.fracPeakFlops) },
  { head: 'peak BW', cell: (r) => pct(r.fracPeakBw) },
  { head: 'img/s', cell: (r) => num(r.imagesPerSec, 1) },
  { head: 'disp', cell: (r) => (r.dispatches === undefined ? '' : String(r.dispatches)) },
  { head: 'subm', cell: (r) => (r.submissions === undefined ? '' : String(r.submissions)) },
  { head: 'notes', cell: (r) => r.notes ?? '', left: true },
];
const REFERENCE_COLUMN = { head: 'of ref', cell: (r: BenchRow) => pct(r.ofReference) };

/** The columns of a table of these rows: 'of ref' only when some row has a reference. */
function columnsFor(rows: BenchRow[]): typeof COLUMNS {
  if (!rows.some((r) => r.ofReference !== undefined)) return COLUMNS;
  const at = COLUMNS.findIndex((c) => c.head === 'img/s') + 1;
  return [...COLUMNS.slice(0, at), REFERENCE_COLUMN, ...COLUMNS.slice(at)];
}

/** The rows as an aligned plain-text table (markdown-compatible pipes, so RESULTS.md can take it as is). */
export function formatTable(rows: BenchRow[]): string {
  const cols = columnsFor(rows);
  // '|' inside a cell (the peers' names) is escaped so that the markdown table keeps its columns
  const cells = rows.map((r) => cols.map((c) => c.cell(r).replaceAll('|', '\\|')));
  const widths = cols.map((c, i) => Math.max(c.head.length, ...cells.map((row) => row[i]!.length)));
  const line = (v: string[]) => `| ${v.map((s, i) => (cols[i]!.left ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (cols[i]!.left ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(cols.map((c) => c.head)), rule, ...cells.map(line)].join('\n');
}

export function formatTarget(t: TargetCheck): string {
  const cpu = (t.wallRatio === undefined ? '' : `; on wall time ${t.wallRatio.toFixed(2)}`) + (t.cpuRatio === undefined ? '' : `; on CPU time ${t.cpuRatio.toFixed(2)}`);
  return `target ${t.what}: ${t.config}: ${t.ratio.toFixed(2)} (${t.op} ${t.limit}) ${t.pass ? 'PASS' : 'FAIL'}  [${t.detail}${cpu}]`;
}

export function formatHeader(h: BenchHeader, peak: BenchPeak | null): string {
  const a = h.adapter;
  return [
    `robustgpu bench, ${h.date} (${h.mode}${h.filter ? `, filter ${h.filter.map((f) => `'${f}'`).join(' or ')}` : ''})`,
    `adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')} (backend ${a.backend}); Node ${h.node}`,
    ...(h.kernel ? [`kernels: ${h.kernel} forced for matmul and every conv2d pass`] : []),
    ...(h.toggles?.length ? [`Dawn toggles: ${h.toggles.join(', ')}`] : []),
    `timing: ${h.timing}`,
    ...(h.reference ? [`reference: ${h.reference.engine} on ${h.reference.device} (${h.reference.precision}; ${h.reference.timing}; ${h.reference.date}; ${h.reference.file}), ` +
      `${h.reference.matched} rows matched; 'of ref' = its median time / ours, our throughput as a fraction of its`] : []),
    peak
      ? `peak: bandwidth ${peak.gbps.toFixed(2)} GB/s (${peak.gbpsFrom}), arithmetic ${peak.gflops.toFixed(2)} GFLOP/s (${peak.gflopsFrom}); ` +
        "'peak F' and 'peak BW' are fractions of these"
      : 'peak: not measured',
    'GB/s count each tensor read or written once (compulsory traffic), so kernels that make several passes show less;' +
    ' step GFLOP/s count conv and linear FLOPs only (forward F; input gradient F; weight gradient F).' +
    " 'cpu ms': CPU time of this process per repetition, all threads (on a CPU adapter, the work itself; less disturbed by other load than wall time).",
  ].join('\n');
}

export function formatReport(r: BenchReport): string {
  const parts = [formatHeader(r.header, r.peak), '', formatTable(r.rows)];
  if (r.header.filter && !r.rows.some((x) => x.suite !== 'peak')) parts.push('', 'no benchmark matches the filter (the peak probe always runs)');
  if (r.targets.length) parts.push('', ...r.targets.map(formatTarget));
  if (r.skipped.length) parts.push('', ...r.skipped.map((s) => `skipped ${s.suite} ${s.name}: ${s.reason}`));
  return parts.join('\n');
}

/** JSON with no NaN or Infinity (JSON.stringify would print them as null silently). */
export function reportJson(r: BenchReport): string {
  return JSON.stringify(r, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2);
}
