/**
 * Side by side with the JavaScript peers that run on the same adapter: @tensorflow/tfjs-core +
 * @tensorflow/tfjs-backend-webgpu, and @jax-js/jax (WebGPU backend). Same process, same data, same shapes
 * (NHWC for tfjs's convolutions, NCHW for ours and jax-js's), interleaved round by round (ours, tfjs, jax,
 * ours, ...) after two untimed rounds (the first compiles), median of the timed rounds. Each step is timed
 * from the start of recording until the device has finished it (see ours.ts, tfjs.ts, jaxjs.ts for what
 * each waits on; none reads data back inside the timed region), and each peer's result is checked against
 * ours once, untimed, so that a peer that skipped work (lazy evaluation) cannot look fast.
 *
 * The peers are devDependencies loaded with import(): without them the comparison still runs ours and
 * says "peer not installed" in the rows.
 */
import type { Device } from '../../engine/device.js';
import type { BenchRow } from '../run.js';
import { installNavigator, installedVersion, ourVersion, ownGpu, sharedGpu, whyNot } from './env.js';
import { oursRunner } from './ours.js';
import { openTfjs, tfjsRunner, type TfPeer } from './tfjs.js';
import { destroyJaxDevice, jaxRunner, openJax, type JaxPeer } from './jaxjs.js';
import { interleave, relError, type Runner, type Samples } from './runner.js';
import { median } from '../timing.js';
import { WORKLOADS, dataFor, flopsOf, shapeOf, type Workload } from './workloads.js';

export { WORKLOADS } from './workloads.js';

/** Every row's suite; its name is 'WORKLOAD / ENGINE'. */
export const SUITE = 'peers';
export const OURS = 'robustgpu';
export const TFJS = 'tfjs-webgpu';
export const JAX = 'jax-js';

export interface PeerOptions {
  /** Three timed rounds instead of ten. */
  quick?: boolean;
  /** Timed rounds per workload (default 10, 3 when quick). */
  reps?: number;
  /** Untimed rounds before timing (default 2; the first compiles). */
  warmup?: number;
  /**
   * Only the workloads whose 'peers NAME' contains this text (case-insensitive; several as an array or
   * comma-separated): 'peer' selects all, 'conv2d' the convolutions, 'matmul 1024' one workload.
   */
  filter?: string | string[];
  /** Which peers to run (default both). */
  peers?: ('tfjs' | 'jax')[];
  /**
   * 'shared' (default): the peers run on robustgpu's GPUDevice. 'own': each peer requests its own device
   * from a second Dawn instance on the same adapter (jax-js can take that only once per process).
   */
  peerDevice?: 'shared' | 'own';
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface PeerRow extends BenchRow {
  /** The workload's name (the start of `name`). */
  workload: string;
  engine: string;
  /** Package version that ran. */
  version?: string;
  flops: number;
  gflops: number;
  minMs: number;
  /**
   * How many times faster ours is: on a peer's row, that peer's median over ours; on our row, the faster
   * peer's median over ours (that peer is `fastestPeer`). Absent when that peer (or every peer) did not run.
   */
  oursSpeedup?: number;
  fastestPeer?: string;
  /** A peer's result against ours (untimed, once): the max abs. difference over ours' max magnitude. */
  relErr?: number;
  /** Peers that did not run on this workload, with the reason (on our row). */
  notRun?: Record<string, string>;
}

/** A result that differs from ours by more than this (relative to its largest magnitude) is flagged. */
export const CHECK_TOLERANCE = 1e-3;

function rowOf(w: Workload, engine: string, version: string | undefined, s: Samples): PeerRow {
  const flops = flopsOf(w);
  const medianMs = median(s.ms);
  return {
    suite: SUITE, name: `${w.name} / ${engine}`, workload: w.name, engine, ...(version ? { version } : {}),
    // Wall clock for every engine: the peers' GPU work cannot carry our timestamp queries.
    shape: shapeOf(w), flops, medianMs, clock: 'wall', minMs: Math.min(...s.ms), cpuMs: median(s.cpuMs),
    gflops: flops / (medianMs * 1e6), reps: s.ms.length,
    ...(w.kind === 'train' ? { imagesPerSec: (w.batch * 1000) / medianMs } : {}),
  };
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0]!;

/**
 * Runs every workload (or those the filter selects) on ours and on each peer that loads, interleaved, and
 * returns one row per engine and workload that ran; ratios are in `oursSpeedup` and in the notes, peers
 * that could not run are named in our row's notes (and `notRun`). Leaves `device` usable.
 */
export async function comparePeers(device: Device, opts: PeerOptions = {}): Promise<PeerRow[]> {
  const reps = opts.reps ?? (opts.quick ? 3 : 10);
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`comparePeers: reps must be a positive integer, got ${reps}`);
  const warmup = opts.warmup ?? 2;
  const filter = (Array.isArray(opts.filter) ? opts.filter : opts.filter?.split(',') ?? [])
    .map((f) => f.trim().toLowerCase()).filter(Boolean);
  const workloads = WORKLOADS.filter((w) => !filter.length || filter.some((f) => `${SUITE} ${w.name}`.toLowerCase().includes(f)));
  const wanted = new Set(opts.peers ?? ['tfjs', 'jax']);
  const log = opts.log ?? (() => {});
  const own = opts.peerDevice === 'own';
  const version = ourVersion();
  if (!workloads.length) return [];

  const gpu = own ? ownGpu() : sharedGpu(device.gpu);
  const restore = installNavigator(gpu);
  let tf: TfPeer | null = null;
  let jax: JaxPeer | null = null;
  const unavailable = new Map<string, string>();
  const rows: PeerRow[] = [];
  try {
    if (wanted.has('tfjs')) {
      try {
        if (!installedVersion('@tensorflow/tfjs-backend-webgpu')) throw Object.assign(new Error('not installed'), { code: 'ERR_MODULE_NOT_FOUND' });
        tf = await openTfjs(own ? await requestOwnDevice(gpu as GPU) : device.gpu);
      } catch (e) {
        unavailable.set(TFJS, whyNot('@tensorflow/tfjs-backend-webgpu', e));
      }
    }
    if (wanted.has('jax')) {
      const jv = installedVersion('@jax-js/jax');
      try {
        if (!jv) throw Object.assign(new Error('not installed'), { code: 'ERR_MODULE_NOT_FOUND' });
        jax = await openJax(own ? null : device.gpu, jv);
      } catch (e) {
        unavailable.set(JAX, whyNot('@jax-js/jax', e));
      }
    }
    for (const [engine, why] of unavailable) log(`${engine}: ${why}`);

    for (const w of workloads) {
      log(`${w.name} ...`);
      const data = dataFor(w);
      const ours = await oursRunner(device, w, data);
      const runners: { engine: string; version?: string; r: Runner }[] = [{ engine: OURS, version, r: ours }];
      const notRun = new Map(unavailable);
      const add = (engine: string, version: string, make: () => Runner) => {
        try {
          runners.push({ engine, version, r: make() });
        } catch (e) {
          notRun.set(engine, `failed: ${firstLine(e)}`);
        }
      };
      if (tf) add(TFJS, tf.version, () => tfjsRunner(tf!, w, data, ours.weights));
      if (jax) add(JAX, jax.version, () => jaxRunner(jax!, w, data, ours.weights));
      try {
        const samples = await timeAll(runners, reps, warmup, notRun);
        const oursRow = rowOf(w, OURS, version, samples.get(OURS)!);
        rows.push(oursRow);
        const want = await ours.output();
        const peerRows: PeerRow[] = [];
        for (const { engine, version, r } of runners.slice(1)) {
          const got = samples.get(engine);
          if (!got) continue;
          const row = rowOf(w, engine, version, got);
          row.oursSpeedup = row.medianMs / oursRow.medianMs;
          const notes = [row.oursSpeedup >= 1 ? `ours ${row.oursSpeedup.toFixed(2)}x faster` : `ours ${(1 / row.oursSpeedup).toFixed(2)}x slower`];
          if (r.notes) notes.push(r.notes);
          try {
            const got = await r.output();
            row.relErr = relError(got, want);
            notes.push(row.relErr <= CHECK_TOLERANCE ? `result agrees (rel. err. ${row.relErr.toExponential(0)})` : `RESULT DIFFERS from ours (rel. err. ${row.relErr.toExponential(1)})`);
          } catch (e) {
            notes.push(`result not checked: ${firstLine(e)}`);
          }
          row.notes = notes.join('; ');
          peerRows.push(row);
        }
        const best = peerRows.reduce<PeerRow | null>((b, r) => (!b || r.medianMs < b.medianMs ? r : b), null);
        const notes: string[] = [];
        if (best) {
          oursRow.oursSpeedup = best.medianMs / oursRow.medianMs;
          oursRow.fastestPeer = best.engine;
          notes.push(`${oursRow.oursSpeedup.toFixed(2)}x the faster peer (${best.engine})`);
        }
        if (notRun.size) {
          oursRow.notRun = Object.fromEntries(notRun);
          for (const [engine, why] of notRun) notes.push(`${engine} not run: ${why}`);
        }
        if (notes.length) oursRow.notes = notes.join('; ');
        rows.push(...peerRows);
      } finally {
        for (const { r } of runners) r.dispose();
      }
    }
  } finally {
    try {
      tf?.close();
      if (own) {
        tf?.backend.device.destroy();
        if (jax) destroyJaxDevice(jax);
      }
    } finally {
      restore();
    }
  }
  return rows;
}

/** Interleaves the runners; a runner that throws is dropped (with the reason in `failed`) and the rest go on. */
async function timeAll(runners: { engine: string; r: Runner }[], reps: number, warmup: number, failed: Map<string, string>): Promise<Map<string, Samples>> {
  let live = runners;
  for (;;) {
    const guarded: Runner[] = live.map(({ engine, r }) => ({
      ...r,
      step: async () => {
        try {
          return await r.step();
        } catch (e) {
          if (engine === OURS) throw e;
          throw Object.assign(new Error(String((e as Error).message ?? e)), { peer: engine });
        }
      },
    }));
    try {
      const s = await interleave(guarded, reps, warmup);
      return new Map(live.map(({ engine }, i) => [engine, s[i]!]));
    } catch (e) {
      const peer = (e as { peer?: string }).peer;
      if (!peer) throw e;
      failed.set(peer, `failed: ${firstLine(e)}`);
      live = live.filter((x) => x.engine !== peer);
    }
  }
}

async function requestOwnDevice(gpu: GPU): Promise<GPUDevice> {
  // What tfjs-backend-webgpu's own registration asks for (base.ts), so 'own' gives it the device it would make.
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter for tfjs');
  const l = adapter.limits;
  return adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize, maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX, maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
}

export interface TargetResult { target: string; value: string; pass: boolean | null }

/**
 * The issue's targets on these rows: matmul 1024 at least 8 GFLOP/s; every conv2d workload and the
 * training step at least 2x the faster peer (null: no peer ran, so not decided).
 */
export function peerTargets(rows: readonly PeerRow[]): TargetResult[] {
  const out: TargetResult[] = [];
  const ours = rows.filter((r) => r.engine === OURS);
  const mm = ours.find((r) => r.workload === 'matmul 1024');
  if (mm) out.push({ target: 'matmul 1024 >= 8 GFLOP/s', value: `${mm.gflops.toFixed(2)} GFLOP/s`, pass: mm.gflops >= 8 });
  for (const r of ours) {
    if (!r.workload.startsWith('conv2d') && !r.workload.startsWith('small-CNN')) continue;
    out.push({
      target: `${r.workload}: >= 2x the faster peer`,
      value: r.oursSpeedup === undefined ? 'no peer ran' : `${r.oursSpeedup.toFixed(2)}x (vs ${r.fastestPeer})`,
      pass: r.oursSpeedup === undefined ? null : r.oursSpeedup >= 2,
    });
  }
  return out;
}

/** A markdown table of the rows (one line per workload and engine), then the targets. */
export function formatPeerRows(rows: readonly PeerRow[]): string {
  const head = ['workload', 'engine', 'median ms', 'min ms', 'cpu ms', 'GFLOP/s', 'img/s', 'ours x', 'notes'];
  const body = rows.map((r) => [
    r.workload, r.engine + (r.version ? ` ${r.version}` : ''),
    fmt(r.medianMs, 1), fmt(r.minMs, 1), fmt(r.cpuMs ?? NaN, 0), fmt(r.gflops, 2),
    r.imagesPerSec === undefined ? '' : fmt(r.imagesPerSec, 0),
    r.oursSpeedup === undefined ? '' : `${r.oursSpeedup.toFixed(2)}x`,
    r.notes ?? '',
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const left = (i: number) => i < 2 || i === head.length - 1;
  const line = (c: string[]) => `| ${c.map((s, i) => (left(i) ? s.padEnd(width[i]!) : s.padStart(width[i]!))).join(' | ')} |`;
  const rule = `|${width.map((w, i) => (left(i) ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  const targets = peerTargets(rows).map((t) => `${t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.value}`);
  return [line(head), rule, ...body.map(line), '', ...targets].join('\n');
}

function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}
