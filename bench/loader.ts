/**
 * The data loader's share of a training step (bench/RESULTS.md, "Data loader"):
 *   node dist/bench/loader.js [--batch 128] [--batches 40] [--rounds 5] [--steps 4] [--synthetic 10000]
 * For Fashion-MNIST (its training set, no augmentation) and CIFAR-shaped synthetic data (3x32x32, random crop
 * pad 4 and flip), it times
 * - the loader alone: `next()` in a loop (gather, upload, augmentation), submitted per batch as a training
 *   step is, then a sync: images/s;
 * - a SmallCNN standard SGD step with a loss readback every step, on a batch uploaded once ("fixed"), on the
 *   loader's batches with prefetch, and without; rounds interleaved, medians per step of the wall time and of
 *   the process's CPU time (all threads, so on lavapipe the GPU work too, and less moved by other processes);
 * - the main thread's time inside `next()` during those steps (the part a step waits for);
 * - with GPU timestamps, the augmentation kernels' GPU time in a step (philox draws + augment; each dispatch
 *   timed in a pass of its own, which inflates a whole step's sum on lavapipe, so it is set against the wall time).
 */
import { parseArgs } from 'node:util';
import { Device, setDefaultDevice } from '../engine/device.js';
import { tensor } from '../engine/create.js';
import { Generator } from '../engine/rng.js';
import { scope } from '../engine/scope.js';
import { SGD } from '../engine/optim/index.js';
import { SmallCNN } from '../nn/models/index.js';
import { standardStep, type Batch } from '../training/steps.js';
import { DataLoader } from '../training/data/loader.js';
import { loadFashionMnist } from '../training/data/fashion_mnist.js';
import { syntheticImageSet } from '../training/data/synthetic.js';
import type { ImageSet } from '../training/data/image_set.js';
import type { AugmentOptions } from '../training/data/augment.js';
import { median } from './timing.js';

const { values } = parseArgs({ options: {
  batch: { type: 'string', default: '128' }, batches: { type: 'string', default: '40' }, rounds: { type: 'string', default: '5' },
  steps: { type: 'string', default: '4' }, synthetic: { type: 'string', default: '10000' },
} });
const int = (k: keyof typeof values): number => {
  const v = Number(values[k]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`bench/loader: --${k} expects a positive integer, got '${values[k]}'`);
  return v;
};
const B = int('batch');

interface Case { name: string; set: ImageSet; augment?: Omit<AugmentOptions, 'generator'> }

const device = await Device.create();
setDefaultDevice(device);
console.log(`adapter: ${device.info.description || device.info.device}; batch ${B}`);
const t0 = performance.now();
const cases: Case[] = [
  { name: 'Fashion-MNIST 1x28x28', set: loadFashionMnist('train') },
  { name: 'synthetic 3x32x32, crop pad 4 + flip', set: syntheticImageSet({ n: int('synthetic'), shape: [3, 32, 32], classes: 10, seed: 0 }), augment: { padding: 4, flip: true } },
];
console.log(`data ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const loaderOf = (c: Case, prefetch: boolean): DataLoader =>
  new DataLoader(c.set, { batchSize: B, seed: 0, prefetch, augment: c.augment ? { ...c.augment, generator: new Generator(1) } : undefined });

async function loaderAlone(c: Case): Promise<{ imagesPerSec: number; hostMs: number }> {
  const l = loaderOf(c, false);
  for (let i = 0; i < 3; i++) scope(() => { l.next(); });
  await device.sync();
  const n = int('batches');
  const start = performance.now();
  let host = 0;
  for (let i = 0; i < n; i++) {
    const h = performance.now();
    scope(() => { l.next(); });
    host += performance.now() - h;
    device.flush();
  }
  await device.sync();
  const total = performance.now() - start;
  l.dispose();
  return { imagesPerSec: (n * B) / (total / 1000), hostMs: host / n };
}

type Mode = 'fixed' | 'loader, prefetch' | 'loader, no prefetch';

/** Median wall and process CPU time (all threads: on lavapipe, the GPU work too) per step, and inside next(). */
interface StepTime { stepMs: number; cpuMs: number; nextMs: number }

async function stepTimes(c: Case): Promise<Record<Mode, StepTime>> {
  const model = new SmallCNN({ inChannels: c.set.shape[0], generator: new Generator(0) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const px = c.set.shape[0] * c.set.shape[1] * c.set.shape[2];
  const fixed: Batch = { x: tensor(c.set.images.subarray(0, B * px), [B, ...c.set.shape]), y: tensor(c.set.labels.subarray(0, B), [B]) };
  const loaders = { prefetch: loaderOf(c, true), none: loaderOf(c, false) };
  const modes: [Mode, () => Batch][] = [
    ['fixed', () => fixed],
    ['loader, prefetch', () => loaders.prefetch.next()],
    ['loader, no prefetch', () => loaders.none.next()],
  ];
  const times = new Map<Mode, { step: number[]; cpu: number[]; next: number[] }>(modes.map(([m]) => [m, { step: [], cpu: [], next: [] }]));
  const step = async (m: Mode, batch: () => Batch): Promise<void> => {
    const c0 = process.cpuUsage();
    const s0 = performance.now();
    let nextMs = 0;
    const loss = scope(() => {
      const n0 = performance.now();
      const b = batch();
      nextMs = performance.now() - n0;
      return standardStep(model, opt, b);
    });
    await loss.item();
    loss.dispose();
    const t = times.get(m)!;
    t.step.push(performance.now() - s0);
    const c = process.cpuUsage(c0);
    t.cpu.push((c.user + c.system) / 1e3);
    t.next.push(nextMs);
  };
  // One compiling step per mode, then interleaved rounds, each starting with another mode.
  for (const [m, f] of modes) await step(m, f);
  for (const t of times.values()) { t.step.length = 0; t.cpu.length = 0; t.next.length = 0; }
  for (let r = 0; r < int('rounds'); r++) {
    for (let k = 0; k < modes.length; k++) {
      const [m, f] = modes[(r + k) % modes.length]!;
      for (let s = 0; s < int('steps'); s++) await step(m, f);
    }
  }
  loaders.prefetch.dispose();
  loaders.none.dispose();
  fixed.x.dispose();
  fixed.y.dispose();
  model.dispose();
  opt.dispose();
  return Object.fromEntries([...times].map(([m, t]) => [m, { stepMs: median(t.step), cpuMs: median(t.cpu), nextMs: median(t.next) }])) as Record<Mode, StepTime>;
}

/** GPU ms of a step on loader batches, and of its augmentation kernels (philox draws + augment). */
async function augmentGpuMs(c: Case): Promise<number | null> {
  if (!device.hasTimestamps || !c.augment) return null;
  const model = new SmallCNN({ inChannels: c.set.shape[0], generator: new Generator(0) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const l = loaderOf(c, false);
  scope(() => { standardStep(model, opt, l.next()); });
  await device.sync();
  const reps: number[] = [];
  for (let r = 0; r < 5; r++) {
    device.startProfile('dispatch');
    scope(() => { standardStep(model, opt, l.next()); });
    reps.push((await device.stopProfile()).filter((t) => t.kernel === 'augment' || t.kernel === 'philox').reduce((a, t) => a + t.ms, 0));
  }
  l.dispose();
  model.dispose();
  opt.dispose();
  return median(reps);
}

const rows: string[] = [];
for (const c of cases) {
  const alone = await loaderAlone(c);
  const t = await stepTimes(c);
  const gpu = await augmentGpuMs(c);
  const f = (x: number, d = 1): string => x.toFixed(d);
  const pct = (x: number, base: number): string => `${x >= base ? '+' : ''}${f(100 * (x - base) / base)}%`;
  const row = (m: Mode): string => `${f(t[m].stepMs)} (${pct(t[m].stepMs, t.fixed.stepMs)}), CPU ${f(t[m].cpuMs)} (${pct(t[m].cpuMs, t.fixed.cpuMs)}); ${f(t[m].nextMs, 2)} in next()`;
  rows.push(`| ${c.name} | ${f(alone.imagesPerSec, 0)} (${f(alone.hostMs, 2)} host ms per batch) | ${f(t.fixed.stepMs)}, CPU ${f(t.fixed.cpuMs)} | ${row('loader, prefetch')} | ${row('loader, no prefetch')} | ` +
    `${gpu === null ? '-' : `${f(gpu, 2)} (${f(100 * gpu / t['loader, prefetch'].stepMs)}% of the step's wall time)`} |`);
  console.log(rows[rows.length - 1]);
}
console.log(`\n| data, batch ${B} | loader alone: images/s | step, fixed batch: ms | step, loader with prefetch: ms | step, loader without prefetch: ms | augmentation GPU ms per step |`);
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
await device.close();
