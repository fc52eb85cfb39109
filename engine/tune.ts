/**
 * Autotuning of the GEMM-shaped kernels (kernels/choice.ts): for each (op, shape class) the candidates (the
 * register-blocked default and the tiles that fit) are timed on the adapter, once, with GPU timestamps where it
 * has them (wall clock around each repetition otherwise), and the fastest is kept in a per-adapter JSON file:
 * $ROBUSTGPU_TUNE_CACHE, else $XDG_CACHE_HOME/robustgpu/ (or ~/.cache/robustgpu/) tune-<adapter>.json. The file
 * records its key (vendor, architecture, device, description, backend, library version); a file whose key
 * differs from the device's is ignored and rewritten at the next save, so a new driver or library version tunes
 * afresh.
 *
 * An op never tunes: timing reads back. With autotune on, a shape class without an entry is remembered when
 * an op meets it (the op runs the cost model's choice meanwhile) and tuned at the next Device.sync(), or by
 * tunePending(); `robustgpu tune MODEL` does that for one training step of a model.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  DEFAULT_CHOICE, choiceLabel, tunableOf, validChoice, KERNEL_OPS, type KernelChoice, type KernelChooser, type KernelOp,
} from '../kernels/choice.js';
import { libraryVersion } from './version.js';
import type { Device, DeviceInfo } from './device.js';

export interface TuneKey { vendor: string; architecture: string; device: string; description: string; backend: string; version: string }

export interface TuneEntry {
  choice: KernelChoice;
  /** The shape the candidates were timed on. */
  shape: unknown;
  /** Median milliseconds of each candidate, by choiceLabel. */
  ms: Record<string, number>;
  /** 'gpu' (timestamp queries) or 'wall'. */
  clock: 'gpu' | 'wall';
  tunedAt: string;
}

interface TuneFile { format: 1; key: TuneKey; entries: Record<string, TuneEntry> }

export interface TuneResult { op: KernelOp; shapeClass: string; shape: string; entry: TuneEntry }

export interface TunerOptions {
  /** Remember shape classes without an entry and tune them at the next sync (env ROBUSTGPU_AUTOTUNE=1). */
  autotune?: boolean;
  /** The cache file (env ROBUSTGPU_TUNE_CACHE); 'off' keeps entries in memory only. */
  cachePath?: string;
  /** The library version in the key (tests); default: package.json's. */
  version?: string;
}

/** How candidates are timed (Tuner.timing; tunePending's options override it). */
export interface TimingOptions {
  /** Timed repetitions per candidate, after one that compiles (default 5). */
  reps?: number;
  /** Time the default against one tile only (64x64 k8); default: on a software adapter. */
  quick?: boolean;
}

export interface TuneState {
  path: string | null; key: TuneKey; entries: number; pending: number;
  /** Why the file's entries were ignored (another key), or null. */
  stale: string | null;
  fileExists: boolean;
}

/** Only a switch away from the default that saves this share of its time is kept: timing noise is a few %. */
const MIN_GAIN = 0.03;

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown';

export function tuneKey(info: DeviceInfo, version = libraryVersion()): TuneKey {
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, backend: info.backend, version };
}

/** Where the cache of this adapter lives (the version is not in the name: a new version replaces the file). */
export function defaultTuneCachePath(key: TuneKey, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const hash = createHash('sha256').update(JSON.stringify([key.vendor, key.architecture, key.device, key.description, key.backend])).digest('hex').slice(0, 10);
  return join(base, 'robustgpu', `tune-${slug(key.vendor)}-${slug(key.architecture)}-${hash}.json`);
}

function sameKey(a: TuneKey, b: TuneKey): boolean {
  return (Object.keys(a) as (keyof TuneKey)[]).every((k) => a[k] === b[k]);
}

function describeKeyDifference(file: TuneKey, ours: TuneKey): string {
  const diffs = (Object.keys(ours) as (keyof TuneKey)[]).filter((k) => file[k] !== ours[k]).map((k) => `${k} '${file[k]}' (this device: '${ours[k]}')`);
  return `written for ${diffs.join(', ')}`;
}

export class Tuner implements KernelChooser {
  readonly key: TuneKey;
  readonly path: string | null;
  autotune: boolean;
  /** How tuning at a sync times the candidates. */
  timing: TimingOptions = {};
  readonly software: boolean;
  readonly maxWorkgroupStorage: number;
  private entries: Map<string, TuneEntry> | null = null;
  private stale: string | null = null;
  private readonly pending = new Map<string, { op: KernelOp; shapeClass: string; shape: unknown }>();
  /** The (op, shape class) keys asked for while autotuning, with an entry or not. */
  readonly met = new Set<string>();
  private busy = false;
  /** Every class met is timed again (retune), its entry kept until then... */
  private again = false;
  /** ... once: the classes timed by this tuner. */
  private readonly timed = new Set<string>();

  constructor(info: DeviceInfo, opts: TunerOptions = {}) {
    this.key = tuneKey(info, opts.version);
    const env = process.env.ROBUSTGPU_TUNE_CACHE;
    const p = opts.cachePath ?? (env !== undefined && env !== '' ? env : defaultTuneCachePath(this.key));
    this.path = p === 'off' ? null : p;
    this.autotune = opts.autotune ?? process.env.ROBUSTGPU_AUTOTUNE === '1';
    this.software = info.fallback;
    this.maxWorkgroupStorage = info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  }

  /** The entries of the file, loaded once; a file for another key counts as none. A corrupt file is an error. */
  private load(): Map<string, TuneEntry> {
    if (this.entries) return this.entries;
    this.entries = new Map();
    const file = this.readFile();
    if (file) {
      if (!sameKey(file.key, this.key)) this.stale = describeKeyDifference(file.key, this.key);
      else for (const [k, e] of Object.entries(file.entries)) this.entries.set(k, e);
    }
    return this.entries;
  }

  private readFile(): TuneFile | null {
    if (!this.path || !existsSync(this.path)) return null;
    const bad = (why: string) => new Error(`tune cache ${this.path}: ${why}; delete the file (it is only a cache) or point ROBUSTGPU_TUNE_CACHE elsewhere`);
    let j: unknown;
    try {
      j = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (e) {
      throw bad(`not JSON (${(e as Error).message})`);
    }
    const f = j as Partial<TuneFile>;
    if (typeof f !== 'object' || f === null || f.format !== 1) throw bad(`expected { format: 1, key, entries }, got format ${JSON.stringify((f as { format?: unknown } | null)?.format)}`);
    const key = f.key as Record<string, unknown> | undefined;
    if (!key || !(['vendor', 'architecture', 'device', 'description', 'backend', 'version'] as const).every((k) => typeof key[k] === 'string')) throw bad('its key lacks a string vendor, architecture, device, description, backend or version');
    if (typeof f.entries !== 'object' || f.entries === null) throw bad('no entries object');
    for (const [k, e] of Object.entries(f.entries)) {
      const op = k.split(' ')[0] as KernelOp;
      if (!KERNEL_OPS.includes(op)) throw bad(`entry '${k}' names no known op (${KERNEL_OPS.join(', ')})`);
      if (!validChoice((e as Partial<TuneEntry>)?.choice)) throw bad(`entry '${k}' has choice ${JSON.stringify((e as Partial<TuneEntry>)?.choice)}, not one the kernels are built for`);
    }
    return f as TuneFile;
  }

  choose(op: KernelOp, shapeClass: string, shape: unknown): KernelChoice | undefined {
    const k = `${op} ${shapeClass}`;
    const e = this.load().get(k);
    if (this.autotune) this.met.add(k);
    const retimed = this.again && this.autotune && !this.timed.has(k);
    if (e && !retimed) return e.choice;
    if (this.autotune && !this.pending.has(k)) this.pending.set(k, { op, shapeClass, shape });
    return retimed ? e?.choice : undefined;
  }

  /** The cached entry of (op, shape class), if any. */
  entry(op: KernelOp, shapeClass: string): TuneEntry | undefined {
    return this.load().get(`${op} ${shapeClass}`);
  }

  /**
   * Times again every class met from now on with autotune on (`robustgpu tune --retune`); meanwhile their
   * entries still choose, and the entries of classes not met stay in the file.
   */
  retune(): void {
    this.again = true;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Whether tuning can start now (something pending, not already tuning, the device not being profiled). */
  canTune(device: Device): boolean {
    return this.pending.size > 0 && !this.busy && !device.profiling;
  }

  state(): TuneState {
    const entries = this.load().size;
    return { path: this.path, key: this.key, entries, pending: this.pending.size, stale: this.stale, fileExists: !!this.path && existsSync(this.path) };
  }

  /**
   * Times the candidates of every shape class met without an entry, keeps the fastest, and saves the file.
   * `reps` timed repetitions per candidate after one that compiles; `quick` times fewer tiles.
   */
  async tunePending(device: Device, opts: TimingOptions & { onResult?: (r: TuneResult) => void } = {}): Promise<TuneResult[]> {
    if (this.busy) throw new Error('tunePending: already tuning');
    if (device.profiling) throw new Error('tunePending: the device is being profiled (stopProfile first)');
    this.busy = true;
    const out: TuneResult[] = [];
    try {
      const reps = opts.reps ?? this.timing.reps ?? 5;
      const quick = opts.quick ?? this.timing.quick ?? device.info.fallback;
      if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`tunePending: reps must be a positive integer, got ${reps}`);
      // Timing a default candidate may meet other classes (a 1x1 conv's default is a matmul): they join the queue.
      for (let next = this.pending.entries().next(); !next.done; next = this.pending.entries().next()) {
        const [k, p] = next.value;
        this.pending.delete(k);
        this.timed.add(k);
        const entry = await timeCandidates(device, p.op, p.shape, reps, quick);
        this.load().set(k, entry);
        const r = { op: p.op, shapeClass: p.shapeClass, shape: tunableOf(p.op).describe(p.shape), entry };
        out.push(r);
        // Saved per class: a run cut short (a time limit) keeps what it measured.
        this.save();
        opts.onResult?.(r);
      }
    } finally {
      this.busy = false;
    }
    return out;
  }

  /** Writes the entries (atomically: a temporary file renamed over the old one). */
  save(): void {
    if (!this.path) return;
    const file: TuneFile = { format: 1, key: this.key, entries: Object.fromEntries([...this.load()].sort(([a], [b]) => a.localeCompare(b))) };
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(file, null, 1)}\n`);
    renameSync(tmp, this.path);
    this.stale = null;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times every candidate of `op` on `shape` (buffers of 0.01s: finite, no denormals) and picks the fastest. */
async function timeCandidates(device: Device, op: KernelOp, shape: unknown, reps: number, quick: boolean): Promise<TuneEntry> {
  const t = tunableOf(op);
  const ms: Record<string, number> = {};
  const clock = device.hasTimestamps ? 'gpu' : 'wall';
  const candidates = t.candidates(device, shape, quick);
  for (const c of candidates) {
    const bufs: Record<string, GPUBufferBinding> = {};
    const held: GPUBuffer[] = [];
    try {
      for (const [name, floats] of Object.entries(t.buffers(device, shape, c))) {
        const bytes = Math.max(16, Math.ceil((4 * floats) / 16) * 16);
        const buf = device.acquire(bytes);
        held.push(buf);
        device.uploadFresh(buf, new Float32Array(bytes / 4).fill(0.01));
        bufs[name] = { buffer: buf, offset: 0, size: bytes };
      }
      t.run(device, bufs, shape, c);
      await device.sync();
      const times: number[] = [];
      if (clock === 'gpu') {
        device.startProfile('dispatch');
        for (let r = 0; r < reps; r++) t.run(device, bufs, shape, c);
        const spans = await device.stopProfile();
        const per = spans.length / reps;
        for (let r = 0; r < reps; r++) times.push(spans.slice(r * per, (r + 1) * per).reduce((a, s) => a + s.ms, 0));
      } else {
        for (let r = 0; r < reps; r++) {
          const t0 = performance.now();
          t.run(device, bufs, shape, c);
          await device.sync();
          times.push(performance.now() - t0);
        }
      }
      ms[choiceLabel(c)] = median(times);
    } finally {
      for (const b of held) device.release(b);
    }
  }
  const def = ms[choiceLabel(DEFAULT_CHOICE)] ?? Infinity;
  let best: KernelChoice = DEFAULT_CHOICE;
  let bestMs = def * (1 - MIN_GAIN);
  for (const c of candidates) {
    const m = ms[choiceLabel(c)]!;
    if (c.variant !== 'default' && m < bestMs) { best = c; bestMs = m; }
  }
  return { choice: best, shape, ms, clock, tunedAt: new Date().toISOString() };
}
