/**
 * The report's plots as vega-lite specs, rendered to SVG headless (vega's scenegraph with renderer 'none':
 * no canvas, no browser): the training loss over steps, the accuracy per epoch, and the clean-vs-robust
 * plane (labelled points and optional curves) that sweeps and soups share. Several runs are overlaid with a
 * legend by run name, each run keeping its colour across plots.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { LoadedRun } from './runs.js';

const WIDTH = 480;
const HEIGHT = 260;

/** One colour per run in the order given, the same in every plot of a report. */
function runColor(names: readonly string[], field = 'run', title = 'run') {
  return {
    field, type: 'nominal' as const, title,
    scale: { domain: [...names], scheme: names.length <= 10 ? 'tableau10' : 'category20' },
    legend: names.length > 1 ? { title, labelLimit: 280 } : null,
  };
}

// Per-point marks go without aria labels (aria: false), and past this many epochs without points at all:
// in a long run they would be most of the SVG's bytes and hide the lines.
const MAX_EPOCH_POINTS = 50;
const fewEpochs = (runs: readonly LoadedRun[]) => Math.max(0, ...runs.map((r) => r.epochs.length)) <= MAX_EPOCH_POINTS;

const frame = { width: WIDTH, height: HEIGHT, background: 'white', padding: 8, config: { view: { stroke: '#ddd' } } } as const;

/** Loss over the run's steps: each log interval's mean as a line, each epoch's mean as a point (up to 50 epochs); null when nothing was logged. */
export function lossSpec(runs: readonly LoadedRun[]): TopLevelSpec | null {
  const steps = runs.flatMap((r) => r.steps.filter((s) => s.loss !== null).map((s) => ({ run: r.name, step: s.step, loss: s.loss })));
  const epochs = runs.flatMap((r) => r.epochs.filter((e) => e.loss !== null).map((e) => ({ run: r.name, step: e.step, loss: e.loss, epoch: e.epoch + 1 })));
  if (!steps.length && !epochs.length) return null;
  const points = epochs.length > 0 && (fewEpochs(runs) || !steps.length);
  const subtitle = steps.length && points ? 'line: mean over each log interval; points: mean over each epoch' : steps.length ? 'mean over each log interval' : 'mean over each epoch';
  return {
    ...frame,
    title: { text: 'training loss', subtitle },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'loss', type: 'quantitative', title: 'loss' },
      color: runColor(runs.map((r) => r.name)),
    },
    layer: [
      ...(steps.length ? [{ data: { values: steps }, mark: { type: 'line' as const, strokeWidth: 1.5 } }] : []),
      ...(points ? [{ data: { values: epochs }, mark: { type: 'point' as const, filled: true, size: 40, aria: false } }] : []),
    ],
  };
}

/**
 * Accuracy in % per epoch: each evaluation the epoch records hold (clean and robust on the held-out split)
 * and the training batches' accuracy; epochs count from 1 (the records' epoch is 0-based). One run: a colour
 * per metric; several: a colour per run and a dash per metric. Points on the lines up to 50 epochs. null when
 * no epoch finished.
 */
export function accuracySpec(runs: readonly LoadedRun[]): TopLevelSpec | null {
  const values = runs.flatMap((r) => r.epochs.flatMap((e) => [
    ...Object.entries(e.eval ?? {}).map(([metric, a]) => ({ run: r.name, epoch: e.epoch + 1, metric, accuracy: a })),
    { run: r.name, epoch: e.epoch + 1, metric: 'train', accuracy: e.trainAccuracy ?? null },
  ]).filter((v) => v.accuracy !== null && v.accuracy !== undefined).map((v) => ({ ...v, accuracy: 100 * v.accuracy! })));
  if (!values.length) return null;
  const metrics = [...new Set(values.map((v) => v.metric))];
  const several = runs.length > 1;
  const metricLegend = { title: 'accuracy', labelLimit: 200 };
  return {
    ...frame,
    title: { text: 'accuracy per epoch', subtitle: 'held-out split after each epoch; train: on the batches trained on' },
    data: { values },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { domain: [0, 100] } },
      color: several ? runColor(runs.map((r) => r.name)) : { field: 'metric', type: 'nominal', title: 'accuracy', scale: { domain: metrics }, legend: metricLegend },
    },
    // Points in their own layer: a line's own points would make the dash legend show dots instead of dashes.
    layer: [
      { mark: { type: 'line', strokeWidth: 1.5 }, encoding: several ? { strokeDash: { field: 'metric', type: 'nominal', scale: { domain: metrics }, legend: metricLegend } } : {} },
      ...(fewEpochs(runs) ? [{ mark: { type: 'point' as const, filled: true, size: 24, aria: false }, encoding: { detail: { field: 'metric', type: 'nominal' as const } } }] : []),
    ],
  };
}

/** A point of the clean-vs-robust plane; accuracies in [0, 1]. `series` groups points (e.g. 'ingredient', 'soup'). */
export interface PlanePoint { label: string; clean: number; robust: number; series?: string }
/** A curve through the plane in the order given (e.g. the interpolation between two models). */
export interface PlaneCurve { name: string; points: { clean: number; robust: number }[] }

/** Clean vs robust accuracy in %: curves, then labelled points; a legend when there is more than one series. */
export function planeSpec(p: { points: readonly PlanePoint[]; curves?: readonly PlaneCurve[]; robust?: string; title?: string }): TopLevelSpec {
  const curves = p.curves ?? [];
  const points = p.points.map((q) => ({ label: q.label, clean: 100 * q.clean, robust: 100 * q.robust, series: q.series ?? 'run' }));
  const lines = curves.flatMap((c) => c.points.map((q, i) => ({ series: c.name, i, clean: 100 * q.clean, robust: 100 * q.robust })));
  const series = [...new Set([...curves.map((c) => c.name), ...points.map((q) => q.series)])];
  const color = { ...runColor(series, 'series', ''), legend: series.length > 1 ? { title: null, labelLimit: 280 } : null };
  return {
    ...frame,
    // The attack goes in the subtitle: a long rotated axis title would push the plot down.
    title: { text: p.title ?? 'clean vs robust accuracy', ...(p.robust ? { subtitle: `robust: ${p.robust}` } : {}) },
    encoding: {
      x: { field: 'clean', type: 'quantitative', title: 'clean accuracy (%)', scale: { zero: false, nice: true, padding: 16 } },
      y: { field: 'robust', type: 'quantitative', title: 'robust accuracy (%)', scale: { zero: false, nice: true, padding: 16 } },
      color,
    },
    layer: [
      ...(lines.length ? [{ data: { values: lines }, mark: { type: 'line' as const, strokeWidth: 1.5, point: { size: 14 } }, encoding: { order: { field: 'i', type: 'quantitative' as const } } }] : []),
      ...(points.length ? [
        { data: { values: points }, mark: { type: 'point' as const, filled: true, size: 70 } },
        { data: { values: points }, mark: { type: 'text' as const, align: 'left' as const, dx: 7, dy: -7, fontSize: 10 }, encoding: { text: { field: 'label', type: 'nominal' as const }, color: { value: '#333' } } },
      ] : []),
    ],
  };
}

/** The robust row a plane uses when none is named: the strongest evaluation the run has. */
const ROBUST_PREFERENCE = ['autoattack', 'apgd', 'pgd', 'fgsm'];

/**
 * Each run's final (eval.json) clean and robust accuracy as a plane point labelled by the run's name.
 * `robust` names the attack row (exactly, or as a prefix such as 'pgd'); by default the strongest one.
 * Runs without an evaluation or without those rows are listed in `skipped`.
 */
export function runPoints(runs: readonly LoadedRun[], robust?: string, others: readonly OtherResult[] = []): { points: PlanePoint[]; robust: string[]; skipped: string[] } {
  const points: PlanePoint[] = [];
  const used = new Set<string>();
  const skipped: string[] = [];
  const entries = [
    ...runs.map((r) => ({ label: r.name, series: undefined as string | undefined, rows: (r.eval?.rows ?? []).map((row) => ({ attack: row.attack, accuracy: row.accuracy })) })),
    ...others.map((o) => ({ label: o.label, series: o.kind as string | undefined, rows: Object.entries(o.metrics).map(([attack, accuracy]) => ({ attack, accuracy })) })),
  ];
  for (const e of entries) {
    const clean = e.rows.find((row) => row.attack === 'clean');
    const attacked = e.rows.filter((row) => row.attack !== 'clean');
    const pick = robust !== undefined
      ? attacked.find((row) => row.attack === robust) ?? attacked.find((row) => row.attack.startsWith(robust))
      : ROBUST_PREFERENCE.map((p) => attacked.find((row) => row.attack.startsWith(p))).find(Boolean) ?? attacked.at(-1);
    if (!clean || !pick) { skipped.push(e.label); continue; }
    used.add(pick.attack);
    points.push({ label: e.label, clean: clean.accuracy, robust: pick.accuracy, ...(e.series && others.length ? { series: e.series } : {}) });
  }
  // With other jobs in the plane, the training runs are a series of their own.
  if (others.length) for (const q of points) q.series ??= 'train';
  return { points, robust: [...used], skipped };
}

/** A result that is not a training run (a sweep's soup or eval job): its final accuracy per row. */
export interface OtherResult { label: string; kind: string; metrics: Record<string, number> }

/**
 * The spec as a standalone SVG document. vega numbers clip paths and gradients from a process-wide counter;
 * they are renumbered under `id` so that the same input gives the same bytes and several plots inlined in
 * one HTML page do not share ids. vega and vega-lite are loaded on the first plot (about a second), not
 * when the package is imported. Warnings from either (a field the data lacks, ...) go to `onWarning`.
 */
export async function renderSvg(spec: TopLevelSpec, id: string, opts: { onWarning?: (message: string) => void } = {}): Promise<string> {
  if (!/^[A-Za-z][\w-]*$/.test(id)) throw new RangeError(`renderSvg: id must be a letter then letters, digits, '_' or '-', got ${JSON.stringify(id)}`);
  const warn = opts.onWarning ?? ((m: string) => console.warn(`report: plot ${id}: ${m}`));
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  let level = vega.Warn;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...a: unknown[]) { warn(a.map(String).join(' ')); return logger; },
    warn(...a: unknown[]) { if (level >= vega.Warn) warn(a.map(String).join(' ')); return logger; },
    info() { return logger; },
    debug() { return logger; },
  };
  const view = new vega.View(vega.parse(vl.compile(spec, { logger }).spec), { renderer: 'none', logger });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/ id="((?:clip|gradient_|p_gradient_)\d+)"/g)) if (!ids.has(m[1]!)) ids.set(m[1]!, `${id}-${ids.size + 1}`);
  return svg.replace(/( id="|url\(#)((?:clip|gradient_|p_gradient_)\d+)/g, (all, pre: string, old: string) => (ids.has(old) ? `${pre}${ids.get(old)}` : all));
}
