/**
 * The Markdown tables of bench/RESULTS.md's Fashion-MNIST section, read from the output folder of
 * bench/fmnist_runs.sh: every training run (wall time, training rate, clean and PGD-20 on the test split),
 * the W-TRADES fine-tunes against their controls per seed, the 3-epoch runs against the numpy anchor, the
 * soups, and the AutoAttack evaluations.
 * Runs that have not finished are left out of the tables and listed as missing.
 *   node dist/bench/fmnist_tables.js [OUT_DIR]      (default runs/bench)
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planeSpec, renderSvg, type PlanePoint } from '../training/report/plots.js';

interface Row { attack: string; accuracy: number; seconds: number; settings: Record<string, unknown> }
interface Report { n: number; rows: Row[]; warnings: string[]; checks?: { name: string; ok: boolean; detail: string }[] }
interface MetricsRecord { type: string; epoch?: number; seconds?: number; imagesPerSec?: number; eval?: { clean: number; robust: number } }

const out = process.argv[2] ?? 'runs/bench';
const missing: string[] = [];

const readJson = <T>(path: string): T | null => (existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as T : null);
const pct = (v: number | undefined) => (v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);
const points = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`;
const table = (header: string[], rows: string[][]) =>
  [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** Wall seconds per name from times.txt (the last line of a name wins: a rerun replaces it). */
function wallTimes(): Map<string, number> {
  const m = new Map<string, number>();
  const path = join(out, 'times.txt');
  if (!existsSync(path)) return m;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const hit = /^(.+): (\d+) s$/.exec(line.trim());
    if (hit) m.set(hit[1]!, Number(hit[2]));
  }
  return m;
}
const times = wallTimes();
const wall = (name: string) => {
  const s = times.get(name);
  return s === undefined ? '-' : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
};

/** A checkpoint path as RUN (its last checkpoint) or RUN FILE (an epoch snapshot). */
const short = (path: string) => {
  const parts = path.split('/');
  const file = (parts.at(-1) ?? path).replace(/\.safetensors$/, '');
  const run = parts.at(-3) ?? path;
  return file === 'last' ? run : `${run} ${file}`;
};

const row = (r: Report | null, prefix: string) => r?.rows.find((x) => x.attack.startsWith(prefix));

function describe(resolved: Record<string, unknown>): string {
  const parts = [String(resolved.objective)];
  if (resolved.activation !== 'relu') parts.push(String(resolved.activation));
  if (resolved.smoothBackward !== 'none') parts.push(`relu_smoothgrad (${String(resolved.smoothBackward)})`);
  if (resolved.init) parts.push(`from ${String(resolved.init).split('/').slice(-3, -2)[0]}`);
  parts.push(`${String(resolved.epochs)} ep`, `lr ${String(resolved.lr)}`, `seed ${String(resolved.seed)}`);
  return parts.join(', ');
}

function runsTable(names: string[]): string {
  const rows: string[][] = [];
  for (const name of names) {
    const ev = readJson<Report>(join(out, name, 'eval.json'));
    const config = readJson<{ resolved: Record<string, unknown> }>(join(out, name, 'config.json'));
    if (!ev || !config) { missing.push(name); continue; }
    const metrics = readFileSync(join(out, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsRecord);
    const epochs = metrics.filter((m) => m.type === 'epoch');
    const steps = metrics.filter((m) => m.type === 'step' && m.imagesPerSec !== undefined);
    const rate = steps.length ? steps.reduce((a, m) => a + m.imagesPerSec!, 0) / steps.length : NaN;
    const last = epochs.at(-1)?.eval;
    rows.push([name, describe(config.resolved), wall(name), Number.isFinite(rate) ? rate.toFixed(0) : '-',
      last ? `${pct(last.clean)} / ${pct(last.robust)}` : '-', pct(row(ev, 'clean')?.accuracy), pct(row(ev, 'pgd')?.accuracy)]);
  }
  return table(['run', 'objective, activation, epochs, lr, seed', 'wall', 'train img/s', 'held-out clean / PGD-10', 'test clean', 'test PGD-20'], rows);
}

/** Distributional accuracy at delta (the minimum over its components) and the components by name. */
function distributional(r: Report | null, delta: number) {
  const d = r?.rows.find((x) => x.attack === `distributional delta ${delta}`);
  if (!d) return null;
  const comps = new Map<string, number>();
  for (const c of (d.settings.components as { attack: string; accuracy: number }[] | undefined) ?? []) comps.set(c.attack, c.accuracy);
  return { accuracy: d.accuracy, by: String(d.settings.by), comps };
}

function wtradesTables(deltas: number[]): string {
  const lines: string[] = [];
  const gains: string[][] = [];
  for (const seed of [0, 1]) {
    const base = seed === 0 ? 'trades-silu' : `trades-silu-s${seed}`;
    const names = [base, `w-trades-s${seed}`, `control-s${seed}`];
    const reps = names.map((n) => readJson<Report>(join(out, n, 'eval1000.json')));
    if (reps.some((r) => !r)) { missing.push(...names.filter((_, i) => !reps[i]).map((n) => `${n} (eval1000)`)); continue; }
    const comp = (r: Report, delta: number, key: string) => distributional(r, delta)?.comps.get(key);
    const header = ['model (seed ' + seed + ')', 'clean', 'PGD-20'];
    for (const d of deltas) header.push(`greedy-W ${d}`, `W-PGD ${d}`, `distributional ${d} (min)`);
    const rows = names.map((n, i) => {
      const r = reps[i]!;
      const cells = [n, pct(row(r, 'clean')?.accuracy), pct(row(r, 'pgd')?.accuracy)];
      for (const d of deltas) {
        const wpgd = Math.min(comp(r, d, 'W-PGD ReDLR') ?? Infinity, comp(r, d, 'W-PGD CE') ?? Infinity);
        cells.push(pct(comp(r, d, 'greedy-W')), Number.isFinite(wpgd) ? pct(wpgd) : '-', pct(distributional(r, d)?.accuracy));
      }
      return cells;
    });
    lines.push(table(header, rows), '');
    const [w, c] = [reps[1]!, reps[2]!];
    const g = [`seed ${seed}`, points((row(w, 'clean')?.accuracy ?? NaN) - (row(c, 'clean')?.accuracy ?? NaN)), points((row(w, 'pgd')?.accuracy ?? NaN) - (row(c, 'pgd')?.accuracy ?? NaN))];
    for (const d of deltas) {
      const wp = (r: Report) => Math.min(comp(r, d, 'W-PGD ReDLR') ?? Infinity, comp(r, d, 'W-PGD CE') ?? Infinity);
      g.push(points((comp(w, d, 'greedy-W') ?? NaN) - (comp(c, d, 'greedy-W') ?? NaN)), points(wp(w) - wp(c)));
    }
    gains.push(g);
  }
  const header = ['W-TRADES minus control (points)', 'clean', 'PGD-20'];
  for (const d of deltas) header.push(`greedy-W ${d}`, `W-PGD ${d}`);
  if (gains.length) lines.push(table(header, gains));
  return lines.join('\n');
}

interface SoupEntry { label: string; heldOut: { clean: number; robust: number }; test: { attack: string; accuracy: number }[] }
interface SoupJson {
  method: string; ingredients: SoupEntry[]; wallMs: number;
  soup: (SoupEntry & { wallMs: number; coefficients: unknown; bnText: string; details: Record<string, unknown> }) | null;
  connectivity: { curves: { labels: string[]; points: { t: number; metrics: { clean: number; robust: number } }[] }[] };
}

/**
 * The held-out plane of the soup experiment in OUT_DIR/soups_plane.svg: the interpolation curve (soup-curve),
 * the ingredients and every soup, each at the held-out metrics its selection saw.
 */
async function soupPlane(): Promise<string | null> {
  const curve = readJson<SoupJson>(join(out, 'soup-curve', 'soup.json'));
  const points: PlanePoint[] = [];
  let ingredients = false;
  for (const s of ['uniform', 'greedy', 'grid', 'learned-model', 'learned-layer']) {
    const j = readJson<SoupJson>(join(out, `soup-${s}`, 'soup.json'));
    if (!j?.soup) continue;
    if (!ingredients) {
      ingredients = true;
      for (const e of j.ingredients) points.push({ label: short(e.label), clean: e.heldOut.clean, robust: e.heldOut.robust, series: 'ingredient' });
    }
    points.push({ label: s, clean: j.soup.heldOut.clean, robust: j.soup.heldOut.robust, series: 'soup' });
  }
  if (!curve && !points.length) return null;
  const c = curve?.connectivity.curves[0];
  const spec = planeSpec({
    points, title: 'soups on the held-out split (500 images, PGD-10)',
    curves: c ? [{ name: `interpolation ${c.labels.map(short).join(' to ')}`, points: c.points.map((q) => q.metrics) }] : [],
  });
  const path = join(out, 'soups_plane.svg');
  writeFileSync(path, await renderSvg(spec, 'soups'));
  return path;
}

function soupTables(): string {
  const soups = ['curve', 'grid', 'uniform', 'greedy', 'learned-model', 'learned-layer'];
  const rows: string[][] = [];
  let ingredients: SoupEntry[] | null = null;
  const test = (e: SoupEntry, prefix: string) => e.test.find((t) => t.attack.startsWith(prefix))?.accuracy;
  for (const s of soups) {
    const j = readJson<SoupJson>(join(out, `soup-${s}`, 'soup.json'));
    if (!j) { missing.push(`soup-${s}`); continue; }
    if (j.ingredients.length > (ingredients?.length ?? 0)) ingredients = j.ingredients;
    if (!j.soup) { rows.push([s, '(the curve: see its report)', '-', '-', '-', '-', wall(`soup-${s}`)]); continue; }
    const coef = Array.isArray(j.soup.coefficients) && !Array.isArray(j.soup.coefficients[0]) ? (j.soup.coefficients as number[]).map((c) => c.toFixed(2)).join(', ') : 'per layer';
    rows.push([s, coef, pct(j.soup.heldOut.clean), pct(j.soup.heldOut.robust), pct(test(j.soup, 'clean')), pct(test(j.soup, 'pgd')), `${wall(`soup-${s}`)} (method ${(j.soup.wallMs / 1000).toFixed(0)} s)`]);
  }
  const ing = (ingredients ?? []).map((e) => [short(e.label), '-', pct(e.heldOut.clean), pct(e.heldOut.robust), pct(test(e, 'clean')), pct(test(e, 'pgd')), '-']);
  return table(['model', 'coefficients', 'held-out clean', 'held-out PGD-10', 'test clean', 'test PGD-20', 'wall'], [...ing, ...rows]);
}

function aaTable(): string {
  const dir = join(out, 'aa');
  if (!existsSync(dir)) { missing.push('aa'); return ''; }
  const rows: string[][] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const r = readJson<Report>(join(dir, f))!;
    const name = f.replace(/\.json$/, '');
    const aa = row(r, 'autoattack');
    const after = ((aa?.settings.afterEach as { attack: string; robustAccuracy: number }[] | undefined) ?? []).map((a) => `${a.attack} ${pct(a.robustAccuracy)}`).join(', ');
    rows.push([name, String(r.n), pct(row(r, 'clean')?.accuracy), pct(row(r, 'pgd')?.accuracy), pct(aa?.accuracy), after || '-', aa ? `${aa.seconds.toFixed(0)} s` : '-', wall(`aa ${name}`)]);
  }
  return table(['model', 'test images', 'clean', 'PGD-20', 'AutoAttack', 'after each attack', 'AA time', 'eval wall'], rows);
}

const base = ['standard', 'pgd-at', 'trades-relu', 'trades-silu', 'trades-softplus', 'trades-gelu', 'trades-elu', 'trades-mish', 'trades-smoothrelu', 'trades-psoftplus', 'trades-smoothgrad'];
const fineTunes = ['standard-ft', 'trades-silu-s1', 'w-trades-s0', 'control-s0', 'w-trades-s1', 'control-s1'];
// Part 'anchor': 3 epochs, against METHODS §9.3's numpy MLP.
const anchor = ['pgd-at-3ep', 'trades-silu-3ep'];
// Part 'seed1' also gives second seeds of the two best activations of part 'base'.
const seed1 = ['trades-relu-s1', 'trades-smoothrelu-s1'];
console.log('### Training runs\n');
console.log(runsTable([...base, ...fineTunes, ...anchor, ...seed1]));
console.log('\n### W-TRADES against the control\n');
console.log(wtradesTables([0.05, 0.1]));
console.log('\n### Soups\n');
console.log(soupTables());
const plane = await soupPlane();
if (plane) console.log(`\n(plot: ${plane})`);
console.log('\n### AutoAttack\n');
console.log(aaTable());
if (missing.length) console.log(`\nnot finished: ${missing.join(', ')}`);
