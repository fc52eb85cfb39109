import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { runBench } from '../../bench/run.js';
import { BenchContext } from '../../bench/context.js';
import { stepSuite } from '../../bench/steps.js';
import { formatTable, type BenchReport, type BenchRow } from '../../bench/report.js';
import { SmallCNN } from '../../nn/models/index.js';

const dev = useDevice();

/** One small case of every suite (the peak probe always runs). */
const FILTER = [
  'matmul 256', 'conv2d resnet18 b8 1x1', 'batchnorm', 'activation relu', 'loss b128 k10 softmax', 'pgd b128 3x32x32 linf',
  'optim sgd', 'step smallcnn b64 standard',
];

function wellFormed(r: BenchRow): void {
  const what = `${r.suite} ${r.name}`;
  expect(typeof r.suite, what).toBe('string');
  expect(r.name.length, what).toBeGreaterThan(0);
  expect(typeof r.shape, what).toBe('string');
  expect(Number.isFinite(r.medianMs) && r.medianMs > 0, `${what}: medianMs ${r.medianMs}`).toBe(true);
  expect(r.reps, what).toBeGreaterThanOrEqual(1);
  for (const k of ['gflops', 'gbps', 'fracPeakFlops', 'fracPeakBw', 'imagesPerSec', 'cpuMs'] as const) {
    if (r[k] !== undefined) expect(Number.isFinite(r[k]) && r[k]! >= 0, `${what}: ${k} ${r[k]}`).toBe(true);
  }
  // Suites time by GPU timestamps where the adapter has them (lavapipe does), and the GPU's share of a
  // repetition lies inside its wall time; the peers, and a lone buffer copy (no compute pass), are wall clock.
  if (r.suite !== 'peers' && !r.name.startsWith('copyBufferToBuffer')) {
    expect(r.clock, what).toBe(dev().hasTimestamps ? 'gpu' : 'wall');
    if (r.clock === 'gpu') expect(r.medianMs, `${what}: GPU ${r.medianMs} ms within wall ${r.wallMs} ms`).toBeLessThanOrEqual(r.wallMs! + 0.5);
  }
  if (r.flops !== undefined) expect(r.gflops, what).toBeCloseTo(r.flops / (r.medianMs * 1e6), 9);
  if (r.bytes !== undefined) expect(r.gbps, what).toBeCloseTo(r.bytes / (r.medianMs * 1e6), 9);
}

describe('bench', () => {
  it('runs one small case of each suite and reports well-formed rows, peak fractions and JSON', async () => {
    let text = '';
    const report = await runBench({ quick: true, reps: 1, json: true, filter: FILTER, out: (s) => { text += s; }, progress: null });
    // The printed JSON is the report, with no NaN turned into null.
    const parsed = JSON.parse(text) as BenchReport;
    expect(parsed.rows.length).toBe(report.rows.length);
    expect(parsed.header.timing).toMatch(/wall clock/);
    expect(parsed.header.timing).toMatch(dev().hasTimestamps ? /'median ms' is GPU time/ : /no timestamp queries/);
    expect(report.skipped).toEqual([]);
    const rows = report.rows;
    rows.forEach(wellFormed);
    const suites = new Set(rows.map((r) => r.suite));
    for (const s of ['peak', 'matmul', 'conv2d', 'batchnorm', 'activation', 'loss', 'pgd', 'optim', 'step']) expect(suites.has(s), s).toBe(true);
    // Only what the filter selects runs (the peak probe aside).
    for (const r of rows.filter((x) => x.suite !== 'peak')) expect(FILTER.some((f) => `${r.suite} ${r.name}`.includes(f)), r.name).toBe(true);

    // FLOP counts by hand: 2 M N K for matmul 256, 2 N O OH OW C kH kW for the strided 1x1 conv.
    const mm = rows.find((r) => r.suite === 'matmul' && r.name === '256')!;
    expect(mm.flops).toBe(2 * 256 * 256 * 256);
    expect(mm.gflops).toBeCloseTo((2 * 256 ** 3) / (mm.medianMs / 1e3) / 1e9, 9);
    const conv = rows.filter((r) => r.suite === 'conv2d');
    expect(conv.map((r) => r.name.split(' ').pop())).toEqual(['fwd', 'dx', 'dw']);
    for (const r of conv) expect(r.flops).toBe(2 * 8 * 256 * 8 * 8 * 128 * 1 * 1);
    expect(conv[2]!.notes).toMatch(/dw\/fwd \d/);

    // Peak: the best copy and the best matmul of the run; the fractions are relative to them.
    expect(report.peak).not.toBeNull();
    const peak = report.peak!;
    for (const r of rows.filter((x) => x.suite === 'matmul' || x.suite === 'peak')) if (r.gflops !== undefined) expect(r.gflops).toBeLessThanOrEqual(peak.gflops);
    expect(mm.fracPeakFlops).toBeCloseTo(mm.gflops! / peak.gflops, 9);
    expect(Math.max(...rows.filter((r) => r.suite === 'peak').map((r) => r.fracPeakBw ?? 0))).toBeCloseTo(1, 9);

    // A whole step: images/s and the dispatch counts of one step.
    const step = rows.find((r) => r.suite === 'step')!;
    expect(step.name).toBe('smallcnn b64 standard');
    expect(step.imagesPerSec).toBeCloseTo(64 / (step.medianMs / 1e3), 6);
    expect(step.dispatches).toBeGreaterThan(10);
    expect(step.submissions).toBeGreaterThanOrEqual(1);
    const opt = rows.find((r) => r.suite === 'optim')!;
    expect(opt.dispatches).toBe(62); // one fused kernel per ResNet-18 parameter tensor

    // The table has one line per row plus head and rule, all with the same number of cells.
    const table = formatTable(rows).split('\n');
    expect(table.length).toBe(rows.length + 2);
    expect(new Set(table.map((l) => l.split('|').length)).size).toBe(1);
  });

  it('step suite: the four steps of a model and the two target ratios from the same run', async () => {
    const ctx = new BenchContext(dev(), true, 1, null, null, true);
    await stepSuite(ctx, [{ name: 'tiny b4', batch: 4, input: [1, 28, 28], build: (device) => new SmallCNN({ device }) }]);
    expect(ctx.rows.map((r) => r.name)).toEqual(['tiny b4 pgd-10 attack', 'tiny b4 standard', 'tiny b4 pgd-at-10', 'tiny b4 trades-10']);
    ctx.rows.forEach(wellFormed);
    const ms = Object.fromEntries(ctx.rows.map((r) => [r.name.slice('tiny b4 '.length), r.medianMs]));
    expect(ctx.targets.map((t) => t.limit)).toEqual([10, 0.8]);
    expect(ctx.targets[0]!.ratio).toBeCloseTo(ms['trades-10']! / ms.standard!, 9);
    expect(ctx.targets[1]!.ratio).toBeCloseTo(ms['pgd-10 attack']! / 10 / ms.standard!, 9);
    expect(ctx.targets[1]!.pass).toBe(ctx.targets[1]!.ratio < 0.8);
    // The attack computes no weight gradients: fewer dispatches per attack step than a training step has.
    const disp = Object.fromEntries(ctx.rows.map((r) => [r.name.slice('tiny b4 '.length), r.dispatches!]));
    expect(disp['pgd-10 attack']! / 10).toBeLessThan(disp.standard!);
    expect(dev().stats().liveTensors).toBe(0);
  });

  it('without --quick or --full, a software adapter runs quick mode and says so', async () => {
    const lines: string[] = [];
    const report = await runBench({ reps: 1, filter: 'matmul 256', out: () => {}, progress: (l) => lines.push(l) });
    expect(report.header.mode).toBe(dev().info.fallback ? 'quick' : 'full');
    if (dev().info.fallback) expect(lines[0]).toMatch(/quick mode: the default on a software adapter/);
  });

  it('filter: cases are matched on "suite name", case-insensitive, any alternative', () => {
    const ctx = new BenchContext(dev(), true, 1, ['matmul 256', 'relu'], null, false);
    expect(ctx.wants('matmul', '256')).toBe(true);
    expect(ctx.wants('matmul', '512')).toBe(false);
    expect(ctx.wants('activation', 'relu fwd')).toBe(true);
    expect(ctx.wants('step', 'smallcnn b64 standard')).toBe(false);
  });
});
