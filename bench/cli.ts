/** `robustgpu bench`: kernel throughput on the current adapter (the suites live in bench/). */
import { parseCommand, numberOption, type CommandSpec } from '../training/cli/args.js';
import { DEVICE_OPTIONS, deviceOptions } from '../training/cli/device_options.js';
import { runBench } from './run.js';

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: 'Measure kernel throughput (median time, GFLOP/s) on this adapter.',
  usage: 'robustgpu bench [--filter TEXT] [--json] [--quick] [--reps N]',
  options: {
    filter: { type: 'string', arg: 'TEXT', description: 'only benchmarks whose name contains TEXT' },
    json: { type: 'boolean', description: 'print JSON rows' },
    quick: { type: 'boolean', description: 'fewer shapes and repetitions' },
    reps: { type: 'string', arg: 'N', description: 'timed repetitions per benchmark' },
    ...DEVICE_OPTIONS,
  },
};

export async function benchCommand(argv: string[]): Promise<number> {
  const p = parseCommand(benchSpec, argv);
  if (!p) return 0;
  const v = p.values;
  const reps = v.reps === undefined ? undefined : numberOption('bench', 'reps', v.reps, 0);
  await runBench({ filter: v.filter as string | undefined, json: !!v.json, quick: !!v.quick, reps, device: deviceOptions(v) });
  return 0;
}
