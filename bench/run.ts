/**
 * Benchmark entry point (the CLI's `bench` command calls runBench): the peak probe, then every suite in a
 * fixed order on one device, the peer comparison if asked for, then one report (table or JSON).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Device, type DeviceOptions } from '../engine/device.js';
import { BenchContext } from './context.js';
import { TIMING_METHOD } from './timing.js';
import { applyPeak, formatReport, reportJson, type BenchHeader, type BenchReport, type BenchRow } from './report.js';
import { peakProbe } from './peak.js';
import { matmulSuite } from './matmul.js';
import { convSuite } from './conv2d.js';
import { batchNormSuite, activationSuite, lossSuite, pgdKernelSuite } from './memory_bound.js';
import { optimSuite } from './optim.js';
import { stepSuite } from './steps.js';
import { attackConfig, attackSuite } from './attacks.js';
import { epochSuite } from './epoch.js';
import { applyReference, loadReference } from './reference.js';
import { KERNEL_OPS, choiceLabel, setKernelChoice, type KernelChoice } from '../kernels/choice.js';

export type { BenchRow, BenchReport } from './report.js';

export interface BenchOptions {
  /**
   * Runs only the cases whose `suite name` contains this text (case-insensitive); several alternatives as an
   * array or separated by commas. Filtered-out cases are not run. The peak probe always runs.
   */
  filter?: string | string[];
  /** Prints one JSON document (the report) instead of the table. */
  json?: boolean;
  /**
   * Small shapes and batches, fewer repetitions: a few minutes on lavapipe. Default: quick on a software
   * adapter (the full configuration's WRN-28-10 steps at batch 128 take hours there), full on a GPU.
   */
  quick?: boolean;
  /** Timed repetitions per case (default 10, 3 when quick; whole steps: 3, and 2 when quick). */
  reps?: number;
  /** Adapter and backend choice, as for Device.create. */
  device?: DeviceOptions;
  /**
   * Side-by-side runs against tfjs-webgpu and jax-js (bench/peers/). Default: on in full mode when no filter
   * is given or the filter names 'peer', and bench/peers/ is present.
   */
  peers?: boolean;
  /** A reference run of the same rows (bench/torch/torch_bench.py's JSON): adds the 'of ref' column. */
  against?: string;
  /** Also writes the JSON report to this file (the table still goes to `out`). */
  jsonFile?: string;
  /** Where the table or JSON goes (default console.log). */
  out?: (text: string) => void;
  /** Where progress lines go (default: stderr, except with json). null: nowhere. */
  progress?: ((line: string) => void) | null;
  /** Forces one kernel variant for matmul and every conv2d pass during the run (setKernelChoice). */
  kernel?: KernelChoice;
  /** The model of the attack suite's AutoAttack row (a Fashion-MNIST checkpoint); default ConvNet-16 with random weights. */
  aaCheckpoint?: string;
}

const SUITES: [string, (ctx: BenchContext, opts: BenchOptions) => Promise<void>][] = [
  ['matmul', matmulSuite],
  ['conv2d', (ctx) => convSuite(ctx)],
  ['batchnorm', batchNormSuite],
  ['activation', activationSuite],
  ['loss', lossSuite],
  ['pgd', pgdKernelSuite],
  ['optim', optimSuite],
  ['step', (ctx) => stepSuite(ctx)],
  ['attack', (ctx, opts) => attackSuite(ctx, attackConfig(ctx.quick, opts.aaCheckpoint))],
  ['epoch', (ctx) => epochSuite(ctx)],
];

function timingMethod(device: Device): string {
  return `${TIMING_METHOD}. On this adapter: ${device.hasTimestamps
    ? "'median ms' is GPU time (timestamp queries; clock 'gpu'), 'wall ms' the wall clock"
    : "no timestamp queries, 'median ms' is wall clock (clock 'wall')"}; the peer comparison (suite 'peers') is wall clock for every engine.`;
}

function filters(f: string | string[] | undefined): string[] | null {
  if (f === undefined) return null;
  const list = (Array.isArray(f) ? f : f.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean);
  return list.length ? list : null;
}

type ComparePeers = (device: Device, opts: { quick: boolean; reps: number; filter?: string; log?: (line: string) => void }) => Promise<BenchRow[]>;

/** bench/peers/ is written separately and may be missing or broken: a failure there is a note, not an error. */
async function runPeers(ctx: BenchContext, filter: string[] | null): Promise<void> {
  const here = new URL('./peers/index.js', import.meta.url);
  if (!existsSync(fileURLToPath(here))) {
    ctx.skipped.push({ suite: 'peers', name: '*', reason: 'bench/peers/index.js not found' });
    return;
  }
  try {
    const mod = (await import(here.href)) as { comparePeers?: ComparePeers };
    if (typeof mod.comparePeers !== 'function') throw new Error('bench/peers/index.js exports no comparePeers');
    // comparePeers filters its workloads by one substring; with several alternatives, or one naming the
    // peers as a whole, it runs them all and the rows outside the filter are dropped here.
    const named = !filter || filter.some((f) => f.includes('peer'));
    const one = !named && filter!.length === 1 ? filter![0] : undefined;
    const rows = await mod.comparePeers(ctx.device, { quick: ctx.quick, reps: ctx.reps, ...(one ? { filter: one } : {}), log: (l) => ctx.log(`peers: ${l}`) });
    ctx.add(named ? rows : rows.filter((r) => ctx.wants(r.suite, r.name)));
  } catch (e) {
    ctx.skipped.push({ suite: 'peers', name: '*', reason: `comparePeers failed: ${((e as Error).message ?? String(e)).split('\n')[0]}` });
  }
}

export async function runBench(opts: BenchOptions = {}): Promise<BenchReport> {
  if (opts.reps !== undefined && (!Number.isInteger(opts.reps) || opts.reps < 1)) throw new RangeError(`bench: reps must be a positive integer, got ${opts.reps}`);
  const filter = filters(opts.filter);
  // Read before the (long) run, so that a bad file fails at once.
  const reference = opts.against === undefined ? null : loadReference(opts.against);
  const out = opts.out ?? ((s: string) => console.log(s));
  const progress = opts.progress !== undefined ? opts.progress : opts.json ? null : (s: string) => process.stderr.write(`${s}\n`);
  const device = await Device.create(opts.device);
  const quick = opts.quick ?? device.info.fallback;
  const reps = opts.reps ?? (quick ? 3 : 10);
  if (opts.quick === undefined && quick) progress?.('quick mode: the default on a software adapter (robustgpu bench --full for the full configuration: hours here)');
  const { vendor, architecture, description, backend } = device.info;
  const header: BenchHeader = {
    date: new Date().toISOString(), adapter: { vendor, architecture, description, backend }, timing: timingMethod(device),
    node: process.version, mode: quick ? 'quick' : 'full', filter,
    ...(opts.kernel ? { kernel: choiceLabel(opts.kernel) } : {}), ...(device.info.toggles.length ? { toggles: device.info.toggles } : {}),
  };
  const ctx = new BenchContext(device, quick, reps, filter, progress, opts.reps !== undefined);
  if (opts.kernel) for (const op of KERNEL_OPS) setKernelChoice(op, opts.kernel);
  try {
    await peakProbe(ctx);
    for (const [, suite] of SUITES) await suite(ctx, opts);
    const peers = opts.peers ?? (!quick && (!filter || filter.some((f) => f.includes('peer'))));
    if (peers) await runPeers(ctx, filter);
    await peakProbe(ctx, 'end');
  } finally {
    if (opts.kernel) for (const op of KERNEL_OPS) setKernelChoice(op, null);
    await device.close();
  }
  if (reference) {
    const { engine, device: card, date, precision, timing } = reference;
    header.reference = { engine, device: card, date, precision, timing, file: opts.against!, matched: applyReference(ctx.rows, reference) };
  }
  const report: BenchReport = { header, peak: applyPeak(ctx.rows), rows: ctx.rows, targets: ctx.targets, skipped: ctx.skipped };
  if (opts.jsonFile) writeFileSync(opts.jsonFile, `${reportJson(report)}\n`);
  out(opts.json ? reportJson(report) : formatReport(report));
  return report;
}
