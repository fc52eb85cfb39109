/**
 * A sweep spec (SPEC.json): jobs (train, eval, soup), each with options, an optional grid over them, and
 * dependencies. A string option `@ID` names the output of job ID (a train job's checkpoints/last.safetensors,
 * an eval job's eval.json, a soup job's soup.safetensors); in a list option (a soup's ingredients) `@ID` stands for the outputs of every expansion of a grid job.
 * References imply dependencies; `after` adds more. Expanding a spec validates every job's options where they
 * are declared (TRAIN_OPTIONS, EVAL_OPTIONS, the soup options), so a bad key or value is refused before anything runs, naming
 * the job and the key. Each expanded job gets a hash of what it computes: the job id a queue deduplicates on.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { trainConfig } from '../run.js';
import { evalConfig } from '../eval_checkpoint.js';
import { OptionError } from '../options.js';
import { soupConfig } from '../soups/options.js';
import { ingredientCountProblem, SOUP_COMMANDS, type SoupCommand } from '../soups/run.js';

export const JOB_KINDS = ['train', 'eval', 'soup'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export interface JobSpec {
  id: string;
  kind: JobKind;
  options?: Record<string, unknown>;
  /** Each key a list of values: one job per point of the product. */
  grid?: Record<string, unknown[]>;
  after?: string[];
}

export interface SweepSpec {
  name: string;
  /** Where the run directories go (default runs/sweeps/NAME), relative to the spec file. */
  out?: string;
  jobs: JobSpec[];
}

export interface SweepJob {
  /** `ID` or, for a grid point, `ID[key=value,...]`. */
  id: string;
  /** The spec job it comes from. */
  specId: string;
  kind: JobKind;
  /** The options with references resolved to paths: what the job computes. */
  options: Record<string, unknown>;
  /** Ids of the expanded jobs that must finish first. */
  after: string[];
  runDir: string;
  /** The file this job leaves for others to reference. */
  output: string;
  /** sha256 of kind, options and run directory (16 hex digits). */
  hash: string;
}

export interface Sweep {
  name: string;
  dir: string;
  jobs: SweepJob[];
}

export class SweepSpecError extends Error {}

/** `@ID`, or `@ID[key=value,...]` for one point of a grid job. */
const REF = /^@([A-Za-z0-9_.-]+(?:\[[^\]]*\])?)$/;

/** Reads and expands a spec file; relative paths are taken from the file's folder. */
export function readSweep(path: string): Sweep {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new SweepSpecError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  return expandSweep(raw, { base: resolve(path, '..'), what: path });
}

function outputOf(kind: JobKind, runDir: string, options: Record<string, unknown>): string {
  if (kind === 'train') return join(runDir, 'checkpoints', 'last.safetensors');
  if (kind === 'soup') return join(runDir, options.method === 'curve' ? 'soup.json' : 'soup.safetensors');
  return join(runDir, 'eval.json');
}

/** A grid point's id suffix and folder name. */
function pointName(point: [string, unknown][]): { suffix: string; folder: string } {
  if (!point.length) return { suffix: '', folder: '' };
  const show = (v: unknown) => (Array.isArray(v) ? v.join('+') : String(v));
  return {
    suffix: `[${point.map(([k, v]) => `${k}=${show(v)}`).join(',')}]`,
    folder: `-${point.map(([k, v]) => `${k}${show(v)}`).join('-').replace(/[^A-Za-z0-9_.+-]/g, '_')}`,
  };
}

function product(grid: Record<string, unknown[]>): [string, unknown][][] {
  let points: [string, unknown][][] = [[]];
  for (const [k, values] of Object.entries(grid)) points = points.flatMap((p) => values.map((v) => [...p, [k, v] as [string, unknown]]));
  return points;
}

export function expandSweep(raw: unknown, o: { base?: string; what?: string } = {}): Sweep {
  const what = o.what ?? 'sweep spec';
  const fail = (m: string): never => { throw new SweepSpecError(`${what}: ${m}`); };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('expected a JSON object { name, jobs }');
  const spec = raw as Partial<SweepSpec> & Record<string, unknown>;
  for (const k of Object.keys(spec)) if (!['name', 'out', 'jobs'].includes(k)) fail(`unknown key '${k}' (known: name, out, jobs)`);
  if (typeof spec.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(spec.name)) fail(`'name' expects letters, digits, '.', '_' or '-', got ${JSON.stringify(spec.name)}`);
  if (!Array.isArray(spec.jobs) || !spec.jobs.length) fail("'jobs' expects a non-empty list");
  const dir = resolve(o.base ?? '.', spec.out ?? join('runs', 'sweeps', spec.name!));
  const byId = new Map<string, SweepJob[]>();
  const jobs: SweepJob[] = [];
  for (const [i, js] of spec.jobs!.entries()) {
    const where = `jobs[${i}]`;
    if (typeof js !== 'object' || js === null) fail(`${where}: expected an object { id, kind, options, grid, after }`);
    for (const k of Object.keys(js)) if (!['id', 'kind', 'options', 'grid', 'after'].includes(k)) fail(`${where}: unknown key '${k}' (known: id, kind, options, grid, after)`);
    if (typeof js.id !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(js.id)) fail(`${where}: 'id' expects letters, digits, '.', '_' or '-', got ${JSON.stringify(js.id)}`);
    if (byId.has(js.id)) fail(`${where}: job id '${js.id}' is used twice`);
    if (js.after !== undefined && (!Array.isArray(js.after) || js.after.some((a) => typeof a !== 'string'))) fail(`job '${js.id}': 'after' expects a list of job ids`);
    if (!JOB_KINDS.includes(js.kind)) fail(`job '${js.id}': 'kind' expects one of ${JOB_KINDS.join(', ')}, got ${JSON.stringify(js.kind)}`);
    const grid = js.grid ?? {};
    for (const [k, v] of Object.entries(grid)) if (!Array.isArray(v) || !v.length) fail(`job '${js.id}': grid '${k}' expects a non-empty list of values`);
    const expanded: SweepJob[] = [];
    for (const point of product(grid)) {
      const { suffix, folder } = pointName(point);
      const id = `${js.id}${suffix}`;
      const after = new Set<string>();
      for (const a of js.after ?? []) {
        const deps = byId.get(a) ?? fail(`job '${id}': 'after' names '${a}', which is not an earlier job`);
        for (const d of deps) after.add(d.id);
      }
      const refOne = (key: string, s: string): string => {
        const m = REF.exec(s);
        if (!m) return s;
        const deps = byId.get(m[1]!) ?? fail(`job '${id}': option '${key}' refers to '@${m[1]}', which is not an earlier job`);
        if (deps.length !== 1) fail(`job '${id}': option '${key}' refers to '@${m[1]}', a grid of ${deps.length} jobs; use it in a list option`);
        after.add(deps[0]!.id);
        return deps[0]!.output;
      };
      const options: Record<string, unknown> = {};
      for (const [k, v] of [...Object.entries(js.options ?? {}), ...point]) {
        if (typeof v === 'string') options[k] = refOne(k, v);
        else if (Array.isArray(v)) {
          options[k] = v.flatMap((item) => {
            const m = typeof item === 'string' ? REF.exec(item) : null;
            if (!m) return [item];
            const deps = byId.get(m[1]!) ?? fail(`job '${id}': option '${k}' refers to '@${m[1]}', which is not an earlier job`);
            for (const d of deps) after.add(d.id);
            return deps.map((d) => d.output);
          });
        } else options[k] = v;
      }
      const runDir = join(dir, `${js.id}${folder}`);
      try {
        if (js.kind === 'train') trainConfig(options);
        else if (js.kind === 'soup') {
          const { method, ingredients, ...rest } = options;
          if (typeof method !== 'string' || !(SOUP_COMMANDS as readonly string[]).includes(method)) fail(`job '${id}': a soup job needs option 'method' (one of ${SOUP_COMMANDS.join(', ')}), got ${JSON.stringify(method)}`);
          if (!Array.isArray(ingredients) || ingredients.some((x) => typeof x !== 'string')) fail(`job '${id}': a soup job needs option 'ingredients', a list of checkpoint paths or '@JOB' references`);
          const count = ingredientCountProblem(method as SoupCommand, (ingredients as string[]).length);
          if (count) fail(`job '${id}': ${count}`);
          soupConfig(method as SoupCommand, rest, `job '${id}'`);
        } else {
          const { checkpoint, ...rest } = options;
          if (typeof checkpoint !== 'string') fail(`job '${id}': an eval job needs option 'checkpoint' (a path, or '@TRAIN_JOB')`);
          evalConfig(rest, `job '${id}'`);
        }
      } catch (e) {
        if (e instanceof OptionError) fail(`job '${id}': ${e.message.replace(/^train config: /, '')}`);
        throw e;
      }
      const hash = createHash('sha256').update(JSON.stringify({ kind: js.kind, options, runDir })).digest('hex').slice(0, 16);
      const job: SweepJob = { id, specId: js.id, kind: js.kind, options, after: [...after], runDir, output: outputOf(js.kind, runDir, options), hash };
      expanded.push(job);
      jobs.push(job);
      if (suffix) byId.set(id, [job]);
    }
    byId.set(js.id, expanded);
  }
  return { name: spec.name!, dir, jobs };
}
