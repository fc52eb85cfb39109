/**
 * Whole steps, through the step functions training runs (training/steps.ts, training/attacks/pgd.ts): a
 * PGD-10 attack alone, a standard step, a PGD-AT step (10 attack steps) and a TRADES step (10 steps, beta 6),
 * per model and batch, with images/s, dispatches and submissions per step, and the two target ratios of the
 * issue measured side by side: TRADES-10 <= 10x standard, and one PGD step (the attack / 10) < 0.8x standard.
 *
 * GFLOP/s count conv and linear FLOPs only, with the forward F from nn/summary.ts and each backward pass
 * (input gradient, weight gradient) as another F: standard 3F (the first layer's unneeded input gradient
 * included), attack 10 x 2F (no weight gradients), PGD-AT 23F, TRADES F (clean logits) + 20F + 6F = 27F.
 */
import { tensor } from '../engine/create.js';
import { Generator, rand } from '../engine/rng.js';
import { keep, scope } from '../engine/scope.js';
import { SGD } from '../engine/optim/index.js';
import { buildModel, PreActResNet18, WideResNet } from '../nn/models/index.js';
import { summarize } from '../nn/summary.js';
import { standardStep, pgdAtStep, tradesStep, type Batch } from '../training/steps.js';
import { pgdAttack, type AttackConfig } from '../training/attacks/pgd.js';
import { withPrecision } from '../engine/precision.js';
import type { Module } from '../nn/module.js';
import type { Device } from '../engine/device.js';
import type { BenchContext } from './context.js';
import type { BenchRow } from './report.js';

export interface StepConfig {
  /** Row prefix, e.g. 'smallcnn b64'. */
  name: string;
  batch: number;
  input: [number, number, number];
  build: (device: Device, g: Generator) => Module;
  /** What was scaled down from the configuration, for the notes. */
  scaled?: string;
}

const CIFAR: [number, number, number] = [3, 32, 32];
const FMNIST: [number, number, number] = [1, 28, 28];

const small = (batch: number): StepConfig => ({ name: `smallcnn b${batch}`, batch, input: FMNIST, build: (device, generator) => buildModel('smallcnn', { device, generator }) });

export function stepConfigs(quick: boolean): StepConfig[] {
  if (quick) {
    return [
      small(64), small(128),
      { name: 'preact_resnet18 w16 b8', batch: 8, input: CIFAR, build: (device, generator) => new PreActResNet18({ width: 16, device, generator }), scaled: 'width 16 (of 64), batch 8 (of 128)' },
      { name: 'wrn-16-4 b8', batch: 8, input: CIFAR, build: (device, generator) => new WideResNet({ depth: 16, widenFactor: 4, device, generator }), scaled: 'WRN-16-4 (of 28-10), batch 8 (of 128)' },
    ];
  }
  return [
    small(64), small(128),
    { name: 'preact_resnet18 b128', batch: 128, input: CIFAR, build: (device, generator) => new PreActResNet18({ device, generator }) },
    { name: 'wrn-28-10 b128', batch: 128, input: CIFAR, build: (device, generator) => new WideResNet({ depth: 28, widenFactor: 10, device, generator }) },
  ];
}

export const STEP_KINDS = ['pgd-10 attack', 'standard', 'pgd-at-10', 'trades-10'] as const;
/**
 * The training steps again with f16 operands (engine/precision.ts), next to PyTorch's AMP rows of the same
 * names (bench/torch/torch_bench.py); neither side scales the loss (a few one-element ops). Full runs only,
 * on adapters with shader-f16: on lavapipe f16 only adds casts.
 */
export const HALF_STEP_KINDS = ['standard f16-mixed', 'pgd-at-10 f16-mixed', 'trades-10 f16-mixed'] as const;
export type StepKind = (typeof STEP_KINDS)[number] | (typeof HALF_STEP_KINDS)[number];

/**
 * What records each step kind (through the training step functions): eps 0.1, step 0.01 on grey images
 * (Fashion-MNIST's usual budget), 8/255 and 2/255 on colour ones; 10 attack steps; TRADES beta 6.
 */
export function stepRecorders(model: Module, opt: SGD, batch: Batch, grey: boolean): Record<StepKind, () => unknown> {
  const attack: AttackConfig = { eps: grey ? 0.1 : 8 / 255, alpha: grey ? 0.01 : 2 / 255, steps: 10, generator: new Generator(13) };
  const half = (f: () => unknown) => () => withPrecision('f16-mixed', f, model.device);
  return {
    'pgd-10 attack': () => pgdAttack(model, batch.x, batch.y, attack),
    standard: () => standardStep(model, opt, batch),
    'pgd-at-10': () => pgdAtStep(model, opt, batch, attack),
    'trades-10': () => tradesStep(model, opt, batch, { ...attack, beta: 6 }),
    'standard f16-mixed': half(() => standardStep(model, opt, batch)),
    'pgd-at-10 f16-mixed': half(() => pgdAtStep(model, opt, batch, attack)),
    'trades-10 f16-mixed': half(() => tradesStep(model, opt, batch, { ...attack, beta: 6 })),
  };
}
/** Forward-pass equivalents of each step (see the header). */
const PASSES: Record<StepKind, number> = {
  'pgd-10 attack': 20, standard: 3, 'pgd-at-10': 23, 'trades-10': 27, 'standard f16-mixed': 3, 'pgd-at-10 f16-mixed': 23, 'trades-10 f16-mixed': 27,
};

export async function stepSuite(ctx: BenchContext, configs: StepConfig[] = stepConfigs(ctx.quick)): Promise<void> {
  for (const cfg of configs) {
    const all: readonly StepKind[] = !ctx.quick && ctx.device.hasF16 ? [...STEP_KINDS, ...HALF_STEP_KINDS] : STEP_KINDS;
    const kinds = all.filter((k) => ctx.wants('step', `${cfg.name} ${k}`));
    if (kinds.length) await ctx.group('step', kinds.map((k) => `${cfg.name} ${k}`), () => runConfig(ctx, cfg, kinds));
  }
}

async function runConfig(ctx: BenchContext, cfg: StepConfig, kinds: StepKind[]): Promise<void> {
  const device = ctx.device;
  const B = cfg.batch;
  const model = cfg.build(device, new Generator(11));
  const x = keep(rand([B, ...cfg.input], { device, generator: new Generator(12) }));
  const y = keep(tensor(Int32Array.from({ length: B }, (_, i) => (i * 7) % 10), [B], { device }));
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  try {
    // summarize's forward output escapes its own scope; this scope disposes it
    const F = scope(() => summarize(model, [1, ...cfg.input]).flops) * B;
    const run = stepRecorders(model, opt, { x, y }, cfg.input[0] === 1);
    // The kinds are timed interleaved, so that the target ratios compare times from the same phases of the host.
    const measured = await ctx.measureTogether(kinds.map((k) => [{
      suite: 'step', name: `${cfg.name} ${k}`, shape: `[${B},${cfg.input.join(',')}], SGD momentum`,
      flops: PASSES[k] * F, images: B,
      notes: [`${PASSES[k]}F, F ${(F / 1e9).toFixed(2)} GFLOP`, cfg.scaled].filter(Boolean).join('; '),
      // The first run compiles and fills the buffer pool; it is the warm-up. Whole steps take seconds (quick)
      // to minutes (full, on a CPU adapter), so unless --reps says otherwise they are timed 2 (quick) or 3 times.
      warmup: 0, reps: ctx.repsGiven ? ctx.reps : Math.min(ctx.reps, ctx.quick ? 2 : 3),
    }, run[k]]));
    const rows: Partial<Record<StepKind, BenchRow>> = Object.fromEntries(kinds.map((k, i) => [k, measured[i]!]));
    const std = rows.standard;
    const target = (what: string, row: BenchRow | undefined, per: number, limit: number, op: '<=' | '<') => {
      if (!std || !row) return;
      const ratio = row.medianMs / per / std.medianMs;
      const wallRatio = row.wallMs !== undefined && std.wallMs !== undefined ? row.wallMs / per / std.wallMs : undefined;
      ctx.targets.push({
        what, config: cfg.name, ratio, wallRatio, cpuRatio: row.cpuMs! / per / std.cpuMs!, limit, op, pass: op === '<' ? ratio < limit : ratio <= limit,
        detail: `${(row.medianMs / per).toFixed(0)} ms / ${std.medianMs.toFixed(0)} ms`,
      });
    };
    target('TRADES-10 step / standard step', rows['trades-10'], 1, 10, '<=');
    target('one PGD step (PGD-10 attack / 10) / standard step', rows['pgd-10 attack'], 10, 0.8, '<');
  } finally {
    opt.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
  }
}
