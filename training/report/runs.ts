/**
 * A run directory read back for reports: config.json (the resolved configuration and where each value came
 * from), metrics.jsonl (step, epoch and stop records, one JSON object a line) and the optional eval.json (the
 * final evaluation). Malformed content is an error naming the file and the line or the JSON path; the one
 * thing tolerated is a truncated last line of metrics.jsonl, which a killed run leaves behind (a warning).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { SOURCES, type Source } from '../options.js';

export class RunDirError extends Error {}

export interface RunConfigFile {
  command?: string;
  version?: string;
  started?: string;
  resolved: Record<string, unknown>;
  /** Where each resolved value came from; keys may be missing for values the writer did not track. */
  sources: Record<string, Source>;
}

/** null where the writer had a non-finite number (JSON.stringify writes NaN and Infinity as null). */
type Num = number | null;

export interface StepRecord { type: 'step'; epoch: number; step: number; loss: Num; trainAccuracy?: Num; lr?: number; imagesPerSec?: number; time?: number }
export interface EpochRecord { type: 'epoch'; epoch: number; step: number; loss: Num; trainAccuracy?: Num; seconds?: number; eval?: Record<string, Num> }
export interface StopRecord { type: 'stop'; reason: string; step: number; epoch: number; message?: string }

export interface RunEvalRow { attack: string; accuracy: number; seconds?: number; settings: Record<string, unknown> }
export interface RunEvalCheck { name: string; ok: boolean; detail?: string }
export interface RunEval { n: number; norm?: string; eps?: number; seed?: number; rows: RunEvalRow[]; checks: RunEvalCheck[]; warnings: string[] }

export interface LoadedRun {
  /** The directory as given. */
  dir: string;
  /** How reports name the run: the directory's name, or enough of its path to tell runs apart (runNames). */
  name: string;
  config: RunConfigFile;
  steps: StepRecord[];
  epochs: EpochRecord[];
  /** In file order: a run stopped by its time limit and resumed has several. */
  stops: StopRecord[];
  eval: RunEval | null;
  /** What was tolerated while reading (a truncated last line, records replaced by a resume, ...). */
  warnings: string[];
}

type Obj = Record<string, unknown>;

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v));

/** Field checks: each names where (file:line or file) and the JSON path, the expected and the received value. */
class Fields {
  constructor(readonly where: string) {}
  fail(path: string, expected: string, got: unknown): never {
    throw new RunDirError(`${this.where}: ${path}: expected ${expected}, got ${show(got)}`);
  }
  obj(v: unknown, path: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'an object', v);
    return v as Obj;
  }
  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'an array', v);
    return v;
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string' || v === '') this.fail(path, 'a non-empty string', v);
    return v;
  }
  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'true or false', v);
    return v;
  }
  int(v: unknown, path: string, min = 0): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(path, `an integer >= ${min}`, v);
    return v;
  }
  num(v: unknown, path: string, min = -Infinity, max = Infinity): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.fail(path, `a number${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`, v);
    }
    return v;
  }
  numOrNull(v: unknown, path: string): Num {
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, 'a number or null', v);
    return v;
  }
  /** An optional key: absent is undefined, present must pass `check`. */
  opt<T>(o: Obj, key: string, check: (v: unknown, path: string) => T, prefix = ''): T | undefined {
    return o[key] === undefined ? undefined : check.call(this, o[key], `${prefix}${key}`);
  }
}

/** JSON.parse with the file (and line:column where node's message gives a position) in the error. */
function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /at position (\d+)/.exec(msg);
    let at = '';
    if (pos) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      at = ` at line ${line} column ${before.length - before.lastIndexOf('\n')}`;
    }
    throw new RunDirError(`${where}: not valid JSON${at} (${msg})`);
  }
}

function readConfig(file: string): RunConfigFile {
  const f = new Fields(file);
  const o = f.obj(parseJson(readFileSync(file, 'utf8'), file), 'the top level');
  const resolved = f.obj(o.resolved, 'resolved');
  const sources: Record<string, Source> = {};
  if (o.sources !== undefined) {
    for (const [k, v] of Object.entries(f.obj(o.sources, 'sources'))) {
      if (!SOURCES.includes(v as Source)) f.fail(`sources.${k}`, `one of ${SOURCES.join(', ')}`, v);
      sources[k] = v as Source;
    }
  }
  return { command: f.opt(o, 'command', f.str), version: f.opt(o, 'version', f.str), started: f.opt(o, 'started', f.str), resolved, sources };
}

function stepRecord(f: Fields, o: Obj): StepRecord {
  return {
    type: 'step', epoch: f.int(o.epoch, 'epoch'), step: f.int(o.step, 'step'), loss: f.numOrNull(o.loss, 'loss'),
    trainAccuracy: f.opt(o, 'trainAccuracy', f.numOrNull), lr: f.opt(o, 'lr', f.num), imagesPerSec: f.opt(o, 'imagesPerSec', f.num), time: f.opt(o, 'time', f.num),
  };
}

function epochRecord(f: Fields, o: Obj): EpochRecord {
  const rec: EpochRecord = {
    type: 'epoch', epoch: f.int(o.epoch, 'epoch'), step: f.int(o.step, 'step'), loss: f.numOrNull(o.loss, 'loss'),
    trainAccuracy: f.opt(o, 'trainAccuracy', f.numOrNull), seconds: f.opt(o, 'seconds', f.num),
  };
  if (o.eval !== undefined) {
    rec.eval = Object.fromEntries(Object.entries(f.obj(o.eval, 'eval')).map(([k, v]) => {
      const a = f.numOrNull(v, `eval.${k}`);
      if (a !== null && (a < 0 || a > 1)) f.fail(`eval.${k}`, 'an accuracy in [0, 1]', v);
      return [k, a];
    }));
  }
  return rec;
}

function stopRecord(f: Fields, o: Obj): StopRecord {
  return { type: 'stop', reason: f.str(o.reason, 'reason'), step: f.int(o.step, 'step'), epoch: f.int(o.epoch, 'epoch'), message: f.opt(o, 'message', f.str) };
}

/**
 * Keeps records in step order. A run resumed from a checkpoint older than its last log logs those steps
 * again: the later records replace the earlier ones from the same point on.
 */
function append<R extends { step: number; epoch: number }>(list: R[], rec: R, key: 'step' | 'epoch', where: string, warnings: string[]): void {
  const last = list.at(-1);
  if (last && rec[key] <= last[key]) {
    const keep = list.findIndex((r) => r[key] >= rec[key]);
    warnings.push(`${where}: ${key} ${rec[key]} follows ${key} ${last[key]} (a resume from an earlier checkpoint?): it replaces the ${list.length - keep} earlier record(s) from ${key} ${rec[key]} on`);
    list.length = keep;
  }
  list.push(rec);
}

function readMetrics(file: string, run: Pick<LoadedRun, 'steps' | 'epochs' | 'stops' | 'warnings'>): void {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const unknown = new Map<string, number>();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      // Only the last line, without its newline, can be a write cut short by a kill.
      if (i === lines.length - 1) {
        run.warnings.push(`${where}: the last line is cut short (the run was stopped while writing it?) and is ignored`);
        return;
      }
      throw new RunDirError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    const f = new Fields(where);
    const o = f.obj(v, 'the record');
    switch (o.type) {
      case 'step': append(run.steps, stepRecord(f, o), 'step', where, run.warnings); break;
      case 'epoch': append(run.epochs, epochRecord(f, o), 'epoch', where, run.warnings); break;
      case 'stop': run.stops.push(stopRecord(f, o)); break;
      default: {
        const t = f.str(o.type, 'type');
        unknown.set(t, (unknown.get(t) ?? 0) + 1);
      }
    }
  });
  for (const [t, n] of unknown) run.warnings.push(`${file}: ${n} record(s) of type '${t}' not shown (known: step, epoch, stop)`);
}

function readEval(file: string): RunEval {
  const f = new Fields(file);
  const o = f.obj(parseJson(readFileSync(file, 'utf8'), file), 'the top level');
  const rows = f.arr(o.rows, 'rows').map((r, i) => {
    const p = `rows[${i}].`;
    const row = f.obj(r, `rows[${i}]`);
    return {
      attack: f.str(row.attack, `${p}attack`), accuracy: f.num(row.accuracy, `${p}accuracy`, 0, 1),
      seconds: f.opt(row, 'seconds', (v, path) => f.num(v, path, 0), p), settings: f.opt(row, 'settings', f.obj, p) ?? {},
    };
  });
  const checks = (f.opt(o, 'checks', f.arr) ?? []).map((c, i) => {
    const p = `checks[${i}].`;
    const check = f.obj(c, `checks[${i}]`);
    return { name: f.str(check.name, `${p}name`), ok: f.bool(check.ok, `${p}ok`), detail: f.opt(check, 'detail', f.str, p) };
  });
  const warnings = (f.opt(o, 'warnings', f.arr) ?? []).map((w, i) => f.str(w, `warnings[${i}]`));
  return {
    n: f.int(o.n, 'n', 1), norm: f.opt(o, 'norm', f.str), eps: f.opt(o, 'eps', (v, p) => f.num(v, p, 0)), seed: f.opt(o, 'seed', f.num), rows, checks, warnings,
  };
}

/** Reads a run directory; throws RunDirError naming the file (and line) for anything missing or malformed. */
export function readRun(dir: string, name = basename(resolve(dir))): LoadedRun {
  if (!existsSync(dir)) throw new RunDirError(`${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new RunDirError(`${dir}: not a directory (a run directory holds config.json, metrics.jsonl, eval.json, checkpoints/)`);
  const config = join(dir, 'config.json');
  if (!existsSync(config)) {
    const inside = readdirSync(dir).filter((d) => existsSync(join(dir, d, 'config.json')));
    throw new RunDirError(`${dir}: not a run directory: no config.json${inside.length ? ` (it holds ${inside.length} run directories: ${inside.slice(0, 3).map((d) => join(dir, d)).join(', ')}${inside.length > 3 ? ', ...' : ''})` : ''}`);
  }
  const run: LoadedRun = { dir, name, config: readConfig(config), steps: [], epochs: [], stops: [], eval: null, warnings: [] };
  const metrics = join(dir, 'metrics.jsonl');
  if (existsSync(metrics)) readMetrics(metrics, run);
  else run.warnings.push(`${metrics}: not found (the run logged nothing yet)`);
  const ev = join(dir, 'eval.json');
  if (existsSync(ev)) run.eval = readEval(ev);
  return run;
}

/** Names for several runs: each directory's name, or as many trailing path parts as it takes to tell them apart. */
export function runNames(dirs: readonly string[]): string[] {
  const parts = dirs.map((d) => resolve(d).split(sep).filter(Boolean));
  const full = parts.map((p) => p.join('/'));
  const twice = full.findIndex((p, i) => full.indexOf(p) !== i);
  if (twice >= 0) throw new RunDirError(`${dirs[twice]}: the same run directory is given twice`);
  for (let k = 1; ; k++) {
    const names = parts.map((p) => p.slice(-k).join('/'));
    if (new Set(names).size === names.length) return names;
  }
}

/** Reads several runs, named so that they can be told apart. */
export function readRuns(dirs: readonly string[]): LoadedRun[] {
  const names = runNames(dirs);
  return dirs.map((d, i) => readRun(d, names[i]));
}

/** The last stop record: why the run ended (or null while it runs, or when it was killed). */
export function finalStop(run: LoadedRun): StopRecord | null {
  return run.stops.at(-1) ?? null;
}
