#!/usr/bin/env node
/** The `robustgpu` command: picks the subcommand and hands over to cli/. */
import { UsageError } from '../cli/args.js';
import { NoAdapterError } from '../engine/device.js';

type Command = { summary: string; run: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  info: { summary: 'the WebGPU adapter, features and limits', run: async (a) => (await import('../cli/info.js')).infoCommand(a) },
  audit: { summary: 'check every op against float64 references and finite differences', run: async (a) => (await import('../cli/audit.js')).auditCommand(a) },
  model: { summary: 'layers, output shapes, parameters and FLOPs of a model', run: async (a) => (await import('../cli/model.js')).modelCommand(a) },
  bench: { summary: 'kernel throughput (GFLOP/s, GB/s) on this adapter', run: async (a) => (await import('../bench/cli.js')).benchCommand(a) },
  tune: { summary: "time the kernel variants of a model's layers on this adapter and cache the fastest", run: async (a) => (await import('../cli/tune.js')).tuneCommand(a) },
  profile: { summary: 'GPU time per kernel of one training step', run: async (a) => (await import('../bench/profile_cli.js')).profileCommand(a) },
  report: { summary: "a run's report.html and plots, or a comparison of several runs", run: async (a) => (await import('../cli/report.js')).reportCommand(a) },
  eval: { summary: 'evaluate a checkpoint: clean, FGSM, PGD, AutoAttack, distributional accuracy, with sanity checks', run: async (a) => (await import('../cli/eval.js')).evalCommand(a) },
  sweep: { summary: 'run a sweep of train and eval jobs here, or on workers through a Redis queue (--queue); status, cancel, retry', run: async (a) => (await import('../cli/sweep.js')).sweepCommand(a) },
  worker: { summary: 'take sweep jobs from a Redis queue and run them on this GPU, one at a time', run: async (a) => (await import('../cli/worker.js')).workerCommand(a) },
  soup: { summary: 'model soups of checkpoints: interpolation curve, uniform, greedy, grid and adversarial learned soups', run: async (a) => (await import('../cli/soup.js')).soupCommand(a) },
  train: { summary: 'train a classifier with standard, PGD-AT, TRADES or W-TRADES objectives into a run directory', run: async (a) => (await import('../cli/train.js')).trainCommand(a) },
  start: { summary: 'the default job: TRADES with SiLU on a small CNN, one epoch of Fashion-MNIST, evaluated on the test set, with a report', run: async (a) => (await import('../cli/start.js')).startCommand(a) },
  soak: { summary: 'many TRADES steps checked for growing memory (live tensors, pooled bytes, buffers, RSS)', run: async (a) => (await import('../bench/soak_cli.js')).soakCommand(a) },
};

function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return ['robustgpu: adversarially robust training on WebGPU', '', 'Usage: robustgpu COMMAND [options]   (robustgpu COMMAND --help for its options)', '', 'Commands:',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`robustgpu: unknown command '${name}'. Commands: ${Object.keys(COMMANDS).join(', ')} (robustgpu --help)`);
    return 2;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) { console.error(e.message); process.exit(2); }
    if (e instanceof NoAdapterError) { console.error(`robustgpu: ${e.message}`); process.exit(3); }
    console.error(e instanceof Error ? (process.env.ROBUSTGPU_DEBUG ? e.stack : `robustgpu: ${e.message}`) : e);
    process.exit(1);
  },
);
