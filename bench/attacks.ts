/**
 * Attack throughput (suite 'attack'): the evaluation attacks of `robustgpu eval` (training/attacks/), L-inf,
 * eps 0.1 on 28x28 grey images and 8/255 on 32x32 colour ones, on models with fixed random weights in eval
 * mode: PGD-k (step 2.5 eps / k, uniform random start, CE, the per-example worst case kept), APGD-CE (one
 * run) and Square (the margin loss, a fixed number of queries). Throughput is images x iterations (queries)
 * per second: the rows' img/s column counts image-iterations, so rows of different lengths compare.
 * Then one row timing the whole AutoAttack evaluation (standard) of `robustgpu eval` on Fashion-MNIST test
 * images, through training/eval.ts.
 *
 * bench/torch/torch_bench.py writes PGD and APGD-CE rows of the same names, for `--against`.
 */
import { tensor } from '../engine/create.js';
import { Generator, rand } from '../engine/rng.js';
import { keep, scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import type { Device } from '../engine/device.js';
import type { Module } from '../nn/module.js';
import { buildModel, PreActResNet18 } from '../nn/models/index.js';
import { summarize } from '../nn/summary.js';
import { modelFromCheckpoint } from '../nn/model_io.js';
import { pgd } from '../training/attacks/pgd.js';
import { apgd } from '../training/attacks/apgd.js';
import { square } from '../training/attacks/square.js';
import { evaluate } from '../training/eval.js';
import { loadDataset } from '../training/data/datasets.js';
import type { ImageSet } from '../training/data/image_set.js';
import type { Recorder } from './timing.js';
import type { BenchContext, CaseSpec } from './context.js';

export interface AttackModel {
  /** Row prefix, e.g. 'convnet-16 b128'. */
  name: string;
  batch: number;
  input: [number, number, number];
  build: (device: Device, g: Generator) => Module;
  /** What was scaled down from the full configuration, for the notes. */
  scaled?: string;
}

export interface AttackBenchConfig {
  models: AttackModel[];
  /** PGD and APGD iterations, Square queries. */
  pgdSteps: number;
  apgdSteps: number;
  squareQueries: number;
  /**
   * The AutoAttack row: examples of the Fashion-MNIST test split, its iterations and Square queries, and the
   * model: a checkpoint (robustgpu train's, for Fashion-MNIST) or, without one, ConvNet-16 with random weights.
   */
  autoAttack: { n: number; steps: number; queries: number; batch: number; checkpoint?: string };
}

const CIFAR: [number, number, number] = [3, 32, 32];
const FMNIST: [number, number, number] = [1, 28, 28];

/** The small CNN of `npm start` and its PyTorch twin (bench/torch/torch_epoch.py's ConvNet), with ReLU. */
export const convnet16 = (batch: number): AttackModel => ({
  name: `convnet-16 b${batch}`, batch, input: FMNIST, build: (device, generator) => buildModel('convnet-16', { device, generator }),
});

/**
 * Full: batch 128, PGD-20, APGD-CE-100, Square-100, AutoAttack on 1000 images (AutoAttack's 100 iterations and
 * 5000 queries). Quick (lavapipe): batch 32 and a width-16 PreAct-18 at batch 8 (the step suite's), a quarter
 * to a fifth of the iterations, and AutoAttack scaled down to 32 images, 10 iterations, 100 queries.
 */
export function attackConfig(quick: boolean, checkpoint?: string): AttackBenchConfig {
  const c = configFor(quick);
  return checkpoint === undefined ? c : { ...c, autoAttack: { ...c.autoAttack, checkpoint } };
}

function configFor(quick: boolean): AttackBenchConfig {
  if (quick) {
    return {
      models: [
        convnet16(32),
        { name: 'preact_resnet18 w16 b8', batch: 8, input: CIFAR, build: (device, generator) => new PreActResNet18({ width: 16, device, generator }), scaled: 'width 16 (of 64), batch 8 (of 128)' },
      ],
      pgdSteps: 10, apgdSteps: 20, squareQueries: 50,
      autoAttack: { n: 32, steps: 10, queries: 100, batch: 32 },
    };
  }
  return {
    models: [convnet16(128), { name: 'preact_resnet18 b128', batch: 128, input: CIFAR, build: (device, generator) => new PreActResNet18({ device, generator }) }],
    pgdSteps: 20, apgdSteps: 100, squareQueries: 100,
    autoAttack: { n: 1000, steps: 100, queries: 5000, batch: 250 },
  };
}

/** The row names of one model, in the order they run (the PyTorch script spells the same). */
export function attackRowNames(model: AttackModel, c: AttackBenchConfig): { pgd: string; apgd: string; square: string } {
  return { pgd: `${model.name} pgd-${c.pgdSteps}`, apgd: `${model.name} apgd-ce-${c.apgdSteps}`, square: `${model.name} square-${c.squareQueries}` };
}

export function autoAttackRowName(c: AttackBenchConfig): string {
  const a = c.autoAttack;
  return `convnet-16 autoattack n${a.n}` + (a.steps !== 100 || a.queries !== 5000 ? ` it${a.steps} q${a.queries}` : '');
}

const epsFor = (input: readonly number[]) => (input[0] === 1 ? 0.1 : 8 / 255);

export async function attackSuite(ctx: BenchContext, c: AttackBenchConfig = attackConfig(ctx.quick)): Promise<void> {
  for (const m of c.models) {
    const names = Object.values(attackRowNames(m, c)).filter((n) => ctx.wants('attack', n));
    if (names.length) await ctx.group('attack', names, () => runModel(ctx, m, c));
  }
  const aa = autoAttackRowName(c);
  if (ctx.wants('attack', aa)) await ctx.group('attack', [aa], () => runAutoAttack(ctx, c, aa));
}

async function runModel(ctx: BenchContext, m: AttackModel, c: AttackBenchConfig): Promise<void> {
  const device = ctx.device;
  const B = m.batch;
  const model = m.build(device, new Generator(11));
  model.eval();
  const x = keep(rand([B, ...m.input], { device, generator: new Generator(12) }));
  const y = keep(tensor(Int32Array.from({ length: B }, (_, i) => (i * 7) % 10), [B], { device }));
  const eps = epsFor(m.input);
  const g = new Generator(13);
  const names = attackRowNames(m, c);
  try {
    // summarize's forward output escapes its own scope; this scope disposes it
    const F = scope(() => summarize(model, [1, ...m.input]).flops) * B;
    const shape = `[${B},${m.input.join(',')}] L-inf eps ${eps === 0.1 ? '0.1' : '8/255'}`;
    // Whole attacks take seconds on lavapipe: unless --reps says otherwise, the first (compiling) run and 2 (quick) or 3 timed ones.
    const reps = ctx.repsGiven ? ctx.reps : Math.min(ctx.reps, ctx.quick ? 2 : 3);
    const spec = (name: string, iters: number, unit: string, passes: number, notes: string): CaseSpec => ({
      suite: 'attack', name, shape: `${shape}, ${iters} ${unit}; img/s = images x ${unit} / s`, images: B * iters, flops: passes * F,
      notes: [`${passes}F, F ${(F / 1e9).toFixed(2)} GFLOP; ${notes}`, m.scaled].filter(Boolean).join('; '), warmup: 0, reps,
    });
    const cases: [CaseSpec, Recorder][] = [];
    if (ctx.wants('attack', names.pgd)) {
      // Each step a forward and an input gradient, and one forward at the last iterate for the worst case.
      cases.push([spec(names.pgd, c.pgdSteps, 'iterations', 2 * c.pgdSteps + 1, 'step 2.5 eps/k, uniform start, CE, worst case over iterates'),
        () => pgd(model, x, y, { norm: 'linf', eps, steps: c.pgdSteps, generator: g })]);
    }
    if (ctx.wants('attack', names.apgd)) {
      cases.push([spec(names.apgd, c.apgdSteps, 'iterations', 2 * (c.apgdSteps + 1), '1 restart, checkpoints as autopgd_base.py'),
        () => apgd(model, x, y, { norm: 'linf', eps, steps: c.apgdSteps, loss: 'ce', generator: g })]);
    }
    if (ctx.wants('attack', names.square)) {
      // compactEvery 0: every query runs the whole batch (random weights break most examples at once, and compaction
      // would time an ever smaller batch) and nothing is read back, so the attack records synchronously.
      cases.push([spec(names.square, c.squareQueries, 'queries', c.squareQueries + 2, 'margin loss, p_init 0.8, no compaction'), {
        async: async () => {
          const r = await square(model, x, y, { norm: 'linf', eps, queries: c.squareQueries, compactEvery: 0, generator: g });
          for (const t of [r.xAdv, r.fooled, r.loss]) t.dispose();
        },
      }]);
    }
    await ctx.measureTogether(cases);
  } finally {
    model.dispose();
    x.dispose();
    y.dispose();
  }
}

/** `robustgpu eval --attacks autoattack`'s work on the first N Fashion-MNIST test images, checks off, timed whole. */
async function runAutoAttack(ctx: BenchContext, c: AttackBenchConfig, name: string): Promise<void> {
  const a = c.autoAttack;
  let set: ImageSet;
  try {
    set = loadDataset('fashion-mnist', 'test', { limit: a.n });
  } catch (e) {
    const reason = `Fashion-MNIST not found (${((e as Error).message ?? String(e)).split('\n')[0]})`;
    ctx.skipped.push({ suite: 'attack', name, reason });
    ctx.log(`attack: skipped ${name}: ${reason}`);
    return;
  }
  const device = ctx.device;
  const model = a.checkpoint
    ? modelFromCheckpoint(a.checkpoint, { model: { device }, load: { strictBuffers: false } }).model
    : buildModel('convnet-16', { device, generator: new Generator(11) });
  const x = keep(tensor(set.images.subarray(0, a.n * FMNIST[0] * FMNIST[1] * FMNIST[2]), [a.n, ...FMNIST], { device }));
  const y = keep(tensor(set.labels.subarray(0, a.n), [a.n], { device }));
  let robust = NaN;
  try {
    const row = await ctx.measure({
      suite: 'attack', name, shape: `[${a.n},${FMNIST.join(',')}] L-inf eps 0.1, standard, ${a.steps} iterations, ${a.queries} queries, batch ${a.batch}; img/s = images / s`,
      images: a.n, warmup: 0, reps: ctx.repsGiven ? ctx.reps : 1,
      notes: `APGD-CE, APGD-T, FAB-T, Square on the survivors of each; ${a.checkpoint ? `checkpoint ${a.checkpoint}` : 'ConvNet-16 with random weights, so few examples survive the clean pass (--aa-checkpoint FILE for a trained model)'}`,
    }, {
      async: async () => {
        const rep = await evaluate(model, x, y, {
          norm: 'linf', eps: 0.1, attacks: ['autoattack'], autoAttackSteps: a.steps, autoAttackQueries: a.queries, batchSize: a.batch, checks: false,
        });
        robust = rep.rows[0]!.accuracy;
      },
    });
    // The wall time is the evaluation's: GPU timestamps leave out the readbacks between the attacks.
    row.notes = `${row.notes}; robust accuracy ${(100 * robust).toFixed(1)}%; ${((row.wallMs ?? row.medianMs) / 1e3).toFixed(1)} s wall`;
  } finally {
    model.dispose();
    x.dispose();
    y.dispose();
  }
}
