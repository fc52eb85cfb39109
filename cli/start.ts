/**
 * `robustgpu start` (`npm start`): the main job on its embedded default, `robustgpu train` with the
 * START_DEFAULTS of training/run_config.ts (TRADES with SiLU on ConvNet-16, one epoch of Fashion-MNIST,
 * clean and PGD-20 on the whole test set), ending with the report table and the run's report.html. Every
 * train option works here too. The gradient audit is one command away (`robustgpu audit`; npm test runs it).
 */
import { START_OPTIONS } from '../training/run_config.js';
import { defineSchema } from './schema.js';
import { runOptions, runTraining } from './train.js';

const schema = defineSchema({
  name: 'start',
  summary: 'The default job: TRADES adversarial training (beta 6, PGD-5 inner attack at eps 0.1) of a small CNN with SiLU\n' +
    'activations on Fashion-MNIST for one epoch, then clean and PGD-20 accuracy on the 10k test images, a report table and\n' +
    'report.html. 5 to 8 minutes on 2 CPU cores through lavapipe. Any robustgpu train option changes it.',
  usage: 'robustgpu start [train options]',
  options: runOptions(START_OPTIONS),
  examples: ['robustgpu start', 'robustgpu start --activation softplus --out runs/start-softplus', 'robustgpu start --resume runs/trades-convnet-16-2026-12-02T09-00-00'],
});

export async function startCommand(argv: string[]): Promise<number> {
  return runTraining(schema, argv);
}
