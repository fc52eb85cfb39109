/**
 * The soak: many TRADES steps of the small CNN, as a training loop runs them (a fresh batch uploaded every
 * step, the loss read only every k steps), checking that nothing grows once the loop is warm. The warm-up is
 * two read cycles (2k steps): each read submits everything, so from then on the submit boundaries, and with
 * them the pool's high-water marks, repeat every k steps (the first cycle differs: the optimizer creates its
 * state in the first step). After it:
 * - live tensors and pooled bytes must not change (exactly: a leak of one tensor per step shows at once);
 * - no buffer may be created (the pool reuses every step's buffers; engine/pool.ts);
 * - process RSS (host memory: on a software adapter the GPU buffers too) may grow by at most a stated
 *   margin, for the JS heap's garbage and the driver's caches.
 * Every read loss must be finite. `robustgpu soak` (npm run soak) runs it at full size, test/bench/soak.test.ts
 * at a small one.
 */
import { tensor } from '../engine/create.js';
import { Generator } from '../engine/rng.js';
import { SGD } from '../engine/optim/index.js';
import { SmallCNN } from '../nn/models/index.js';
import { tradesStep, type Batch } from '../training/steps.js';
import { loadFashionMnist, type ImageSet } from '../training/data/fashion_mnist.js';
import type { Device } from '../engine/device.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../engine/tensor.js';

export interface SoakConfig {
  steps: number;
  batch: number;
  /** Read the loss every this many steps (and after the last). */
  readEvery: number;
  /** TRADES attack steps (10 in the paper). */
  attackSteps: number;
  /** Allowed RSS growth after warm-up, in MiB. */
  rssMarginMiB: number;
  /** Fashion-MNIST (when installed; the first 60 batches, cycled) or uniform noise with cycled labels. */
  data: 'fashion-mnist' | 'synthetic';
  /** The step under test (default: tradesStep, eps 0.1, step eps/4, beta 6). Tests pass a leaking one. */
  step?: (model: Module, opt: SGD, b: Batch, attackSteps: number) => Tensor;
}

export const SOAK_DEFAULTS: SoakConfig = { steps: 300, batch: 64, readEvery: 10, attackSteps: 10, rssMarginMiB: 64, data: 'fashion-mnist' };

export interface SoakPoint { step: number; liveTensors: number; pooledBytes: number; buffersCreated: number; rssBytes: number }

export interface SoakReport {
  config: Omit<SoakConfig, 'step'>;
  /** Where the batches came from ('synthetic' when Fashion-MNIST was asked for but is not installed). */
  data: string;
  warmupSteps: number;
  /** Before the first step, after warm-up, after the last step. */
  start: SoakPoint; warm: SoakPoint; end: SoakPoint;
  /** Highest RSS seen at the reads after warm-up. */
  maxRssBytes: number;
  buffersCreatedPerStep: number;
  peakBytes: number;
  flushesForMemory: number;
  submissionsPerStep: number;
  msPerStep: number;
  /** Every read: the loss, and the process RSS right after it (the trend, not only its two ends). */
  reads: { step: number; loss: number; rssBytes: number }[];
  /** Empty when the soak passed; else one line per broken check. */
  failures: string[];
}

const rss = () => process.memoryUsage().rss;

function point(device: Device, step: number): SoakPoint {
  const s = device.stats();
  return { step, liveTensors: s.liveTensors, pooledBytes: s.pooledBytes, buffersCreated: s.buffersCreated, rssBytes: rss() };
}

function loadImages(cfg: SoakConfig): { set: ImageSet; source: string } {
  const n = cfg.batch * 60;
  if (cfg.data === 'fashion-mnist') {
    try {
      return { set: loadFashionMnist('train', n), source: 'Fashion-MNIST' };
    } catch {
      // Not installed: noise instead, and the report says so.
    }
  }
  let s = 12345;
  const images = new Float32Array(n * 784);
  for (let i = 0; i < images.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; images[i] = s / 2 ** 32; }
  return { set: { images, labels: Int32Array.from({ length: n }, (_, i) => i % 10), n, shape: [1, 28, 28] }, source: 'synthetic' };
}

const MIB = 2 ** 20;

export async function runSoak(device: Device, partial: Partial<SoakConfig> = {}): Promise<SoakReport> {
  const cfg: SoakConfig = { ...SOAK_DEFAULTS, ...partial };
  for (const k of ['steps', 'batch', 'readEvery', 'attackSteps'] as const) {
    if (!(Number.isInteger(cfg[k]) && cfg[k] >= 1)) throw new RangeError(`soak: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (!(cfg.rssMarginMiB >= 0)) throw new RangeError(`soak: rssMarginMiB must be >= 0, got ${cfg.rssMarginMiB}`);
  const warmupSteps = 2 * cfg.readEvery;
  if (cfg.steps < 2 * warmupSteps) throw new RangeError(`soak: steps (${cfg.steps}) must be at least twice the warm-up (2 readEvery = ${warmupSteps})`);
  const { set, source } = loadImages(cfg);
  const batches = Math.floor(set.n / cfg.batch);
  const px = 28 * 28;
  const attackGen = new Generator(3);
  const step = cfg.step ?? ((m, o, b, k) => tradesStep(m, o, b, { eps: 0.1, alpha: 0.025, steps: k, beta: 6, generator: attackGen }));
  const model = new SmallCNN({ device, generator: new Generator(1) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const reads: SoakReport['reads'] = [];
  const failures: string[] = [];
  const start = point(device, 0);
  const s0 = device.stats();
  let warm = start;
  let sWarm = s0;
  let tWarm = performance.now();
  let maxRss = 0;
  let end: SoakPoint;
  let sEnd: ReturnType<Device['stats']>;
  try {
    for (let i = 1; i <= cfg.steps; i++) {
      const j = (i - 1) % batches;
      const x = tensor(set.images.subarray(j * cfg.batch * px, (j + 1) * cfg.batch * px), [cfg.batch, 1, 28, 28], { device });
      const y = tensor(set.labels.subarray(j * cfg.batch, (j + 1) * cfg.batch), [cfg.batch], { device });
      const loss = step(model, opt, { x, y }, cfg.attackSteps);
      x.dispose();
      y.dispose();
      if (i % cfg.readEvery === 0 || i === cfg.steps) {
        const v = await loss.item();
        const r = rss();
        reads.push({ step: i, loss: v, rssBytes: r });
        if (!Number.isFinite(v)) failures.push(`loss at step ${i} is ${v}`);
        if (i > warmupSteps) maxRss = Math.max(maxRss, r);
      }
      loss.dispose();
      if (i === warmupSteps) {
        warm = point(device, i);
        sWarm = device.stats();
        tWarm = performance.now();
      }
    }
    await device.sync();
    end = point(device, cfg.steps);
    sEnd = device.stats();
  } finally {
    opt.dispose();
    model.dispose();
  }
  const measured = cfg.steps - warmupSteps;
  const msPerStep = (performance.now() - tWarm) / measured;
  if (end.liveTensors !== warm.liveTensors) failures.push(`live tensors went from ${warm.liveTensors} after warm-up (step ${warmupSteps}) to ${end.liveTensors} at step ${cfg.steps}`);
  if (end.pooledBytes !== warm.pooledBytes) failures.push(`pooled bytes went from ${warm.pooledBytes} after warm-up to ${end.pooledBytes} at step ${cfg.steps}`);
  if (end.buffersCreated !== warm.buffersCreated) failures.push(`${end.buffersCreated - warm.buffersCreated} buffers were created after warm-up (expected 0: the pool should reuse every step's buffers)`);
  const grew = (Math.max(end.rssBytes, maxRss) - warm.rssBytes) / MIB;
  if (grew > cfg.rssMarginMiB) failures.push(`process RSS grew by ${grew.toFixed(1)} MiB after warm-up (from ${(warm.rssBytes / MIB).toFixed(1)} MiB), more than the ${cfg.rssMarginMiB} MiB margin`);
  return {
    config: { steps: cfg.steps, batch: cfg.batch, readEvery: cfg.readEvery, attackSteps: cfg.attackSteps, rssMarginMiB: cfg.rssMarginMiB, data: cfg.data },
    data: source, warmupSteps, start, warm, end, maxRssBytes: Math.max(maxRss, end.rssBytes),
    buffersCreatedPerStep: (end.buffersCreated - warm.buffersCreated) / measured,
    peakBytes: sEnd.peakBytes, flushesForMemory: sEnd.flushesForMemory - s0.flushesForMemory,
    submissionsPerStep: (sEnd.submissions - sWarm.submissions) / measured, msPerStep, reads, failures,
  };
}

/** About eight evenly spaced entries, the first and the last included. */
function sample<T>(a: T[]): T[] {
  const every = Math.max(1, Math.ceil(a.length / 8));
  return a.filter((_, i) => i % every === 0 || i === a.length - 1);
}

export function formatSoak(r: SoakReport): string {
  const mib = (b: number) => `${(b / MIB).toFixed(1)} MiB`;
  const row = (name: string, p: SoakPoint) => `${name.padEnd(22)} ${String(p.step).padStart(5)}  ${String(p.liveTensors).padStart(12)}  ${mib(p.pooledBytes).padStart(12)}  ${String(p.buffersCreated).padStart(15)}  ${mib(p.rssBytes).padStart(10)}`;
  const c = r.config;
  return [
    `soak: ${c.steps} TRADES-${c.attackSteps} steps (beta 6) of the small CNN, batch ${c.batch}, ${r.data}, loss read every ${c.readEvery} steps; warm-up ${r.warmupSteps} steps`,
    '',
    `${'point'.padEnd(22)} ${'step'.padStart(5)}  ${'live tensors'.padStart(12)}  ${'pooled'.padStart(12)}  ${'buffers created'.padStart(15)}  ${'RSS'.padStart(10)}`,
    row('start', r.start), row('after warm-up', r.warm), row('end', r.end),
    '',
    `buffers created per step after warm-up  ${r.buffersCreatedPerStep}`,
    `RSS: highest after warm-up ${mib(r.maxRssBytes)}, margin ${c.rssMarginMiB} MiB`,
    `peak GPU bytes ${mib(r.peakBytes)}, submits forced by the memory budget ${r.flushesForMemory}, ${r.submissionsPerStep.toFixed(2)} submissions and ${r.msPerStep.toFixed(0)} ms per step`,
    `step:loss  ${sample(r.reads).map((l) => `${l.step}:${l.loss.toFixed(3)}`).join('  ')}`,
    `step:RSS   ${sample(r.reads).map((l) => `${l.step}:${(l.rssBytes / MIB).toFixed(0)}M`).join('  ')}`,
    r.failures.length ? `FAILED:\n${r.failures.map((f) => `  ${f}`).join('\n')}` : 'passed: live tensors, pooled bytes and buffers flat after warm-up, RSS within the margin',
  ].join('\n');
}
