/** `robustgpu bench`: kernel and training-step throughput on the current adapter (the suites live in bench/). */
import { parseCommand, numberOption, UsageError, type CommandSpec } from '../cli/args.js';
import { DEVICE_OPTIONS, deviceOptions } from '../cli/device_options.js';
import { runBench } from './run.js';
import { parseChoice } from '../kernels/choice.js';

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: 'Measure kernel, training-step, attack and whole-epoch throughput (median time, GFLOP/s, GB/s, fraction of the measured peak) on this adapter.',
  usage: 'robustgpu bench [--filter TEXT] [--json] [--json-out FILE] [--quick | --full] [--reps N] [--peers | --no-peers] [--against FILE] [--kernel CHOICE] [--aa-checkpoint FILE] [--fast]',
  options: {
    filter: { type: 'string', arg: 'TEXT', description: "only cases whose 'suite name' contains TEXT (comma-separated alternatives)" },
    json: { type: 'boolean', description: 'print the report as JSON only' },
    'json-out': { type: 'string', arg: 'FILE', description: 'also write the JSON report to FILE' },
    against: { type: 'string', arg: 'FILE', description: "a reference run of the same rows (bench/torch/torch_bench.py's JSON): adds our throughput as a fraction of its ('of ref')" },
    quick: { type: 'boolean', description: 'small shapes and batches, fewer repetitions (a few minutes on lavapipe; the default on a software adapter)' },
    full: { type: 'boolean', description: "the full configuration: every conv layer at batch 32 and 128, ResNet steps at batch 128 (the default on a GPU)" },
    reps: { type: 'string', arg: 'N', description: 'timed repetitions per case (default 10, whole steps 3; quick: 3, whole steps 2)' },
    peers: { type: 'boolean', description: 'also run the tfjs-webgpu / jax-js comparison (default in full mode)' },
    'no-peers': { type: 'boolean', description: 'skip the peer comparison' },
    kernel: { type: 'string', arg: 'CHOICE', description: "force one variant for matmul and conv2d: 'default' (the register-blocked kernels) or 'tiled BMxBN kBK' (64x64 to 128x128, k8/k16/k32)" },
    'aa-checkpoint': { type: 'string', arg: 'FILE', description: "the model of suite 'attack''s AutoAttack row (a Fashion-MNIST checkpoint of robustgpu train; default: ConvNet-16 with random weights)" },
    ...DEVICE_OPTIONS,
  },
  examples: ['robustgpu bench --quick', "robustgpu bench --filter 'matmul,step smallcnn' --reps 5", 'robustgpu bench --quick --json > bench.json',
    'python3 bench/torch/torch_bench.py --out torch.json && robustgpu bench --against torch.json',
    'python3 bench/torch/torch_bench.py --filter attack --out torch_attack.json && robustgpu bench --filter attack --against torch_attack.json'],
};

export async function benchCommand(argv: string[]): Promise<number> {
  const p = parseCommand(benchSpec, argv);
  if (!p) return 0;
  const v = p.values;
  const reps = v.reps === undefined ? undefined : numberOption('bench', 'reps', v.reps, 0);
  if (reps !== undefined && !(Number.isInteger(reps) && reps >= 1)) throw new UsageError(`bench: --reps expects a positive integer, got '${String(v.reps)}'`);
  if (v.peers && v['no-peers']) throw new UsageError('bench: --peers and --no-peers contradict each other');
  if (v.quick && v.full) throw new UsageError('bench: --quick and --full contradict each other');
  const peers = v.peers ? true : v['no-peers'] ? false : undefined;
  const kernel = v.kernel === undefined ? undefined : parseChoice(String(v.kernel).replace(/-/g, ' '));
  if (kernel === null) throw new UsageError(`bench: --kernel expects 'default' or 'tiled BMxBN kBK' with BM, BN in 64, 128 and BK in 8, 16, 32 (e.g. 'tiled 128x64 k16'), got '${String(v.kernel)}'`);
  await runBench({
    filter: v.filter as string | undefined, json: !!v.json, quick: v.quick ? true : v.full ? false : undefined, reps, peers, device: deviceOptions(v),
    against: v.against as string | undefined, jsonFile: v['json-out'] as string | undefined, kernel,
    aaCheckpoint: v['aa-checkpoint'] as string | undefined,
  });
  return 0;
}
