/**
 * `robustgpu start` (`npm start`): the default job on embedded defaults. Shows the device, runs the
 * gradient audit, then a short PGD adversarial training run on Fashion-MNIST, and ends with a report.
 */
import { Device } from '../engine/device.js';
import { runAudit } from '../engine/audit.js';
import { runDemo, DEMO_DEFAULTS, type DemoConfig } from '../training/demo.js';
import { parseCommand, numberOption, type CommandSpec } from './args.js';
import { deviceOptions, DEVICE_OPTIONS } from './device_options.js';
import { formatInfo } from './info.js';
import { formatAudit } from './audit.js';
import { Progress, fmtSecs } from './progress.js';

export const startSpec: CommandSpec = {
  name: 'start',
  summary: 'The default job: device info, the gradient audit, and a short PGD adversarial training run of an MLP on\n' +
    'Fashion-MNIST (eps 0.1) that ends with clean and PGD accuracy on held-out test images.',
  usage: 'robustgpu start [--steps N] [--batch N] [--eps X] [--seed N] [--skip-audit]',
  options: {
    steps: { type: 'string', arg: 'N', description: 'training steps', default: String(DEMO_DEFAULTS.steps) },
    batch: { type: 'string', arg: 'N', description: 'batch size', default: String(DEMO_DEFAULTS.batch) },
    eps: { type: 'string', arg: 'X', description: 'L-inf radius in [0,1] pixel units', default: String(DEMO_DEFAULTS.eps) },
    seed: { type: 'string', arg: 'N', description: 'random seed', default: String(DEMO_DEFAULTS.seed) },
    'skip-audit': { type: 'boolean', description: 'do not run the audit first' },
    ...DEVICE_OPTIONS,
  },
};

export async function startCommand(argv: string[]): Promise<number> {
  const p = parseCommand(startSpec, argv);
  if (!p) return 0;
  const v = p.values;
  const cfg: DemoConfig = {
    ...DEMO_DEFAULTS,
    steps: numberOption('start', 'steps', v.steps, DEMO_DEFAULTS.steps),
    batch: numberOption('start', 'batch', v.batch, DEMO_DEFAULTS.batch),
    eps: numberOption('start', 'eps', v.eps, DEMO_DEFAULTS.eps),
    seed: numberOption('start', 'seed', v.seed, DEMO_DEFAULTS.seed),
  };
  const device = await Device.create(deviceOptions(v));
  try {
    console.log(`== device\n${formatInfo(device)}\n`);
    let auditOk = true;
    if (!v['skip-audit']) {
      const t = Date.now();
      const rows = await runAudit(device);
      auditOk = rows.every((r) => r.pass);
      console.log(`== gradient audit (${fmtSecs((Date.now() - t) / 1000)})\n${formatAudit(rows)}\n`);
    }
    console.log(`== PGD adversarial training: MLP 784-${cfg.hidden}-10 on Fashion-MNIST, ${cfg.steps} steps of ${cfg.batch}, eps ${cfg.eps}, PGD-${cfg.attackSteps} step eps/4, SGD lr ${cfg.lr} momentum 0.9`);
    const bar = new Progress('train', cfg.steps, 'steps');
    let last = NaN;
    const report = await runDemo(device, cfg, (step, loss) => {
      if (loss !== undefined) last = loss;
      bar.update(step, Number.isNaN(last) ? '' : `adv loss ${last.toFixed(3)}`);
    });
    const s = device.stats();
    console.log([
      '',
      '== report',
      `adversarial loss   ${report.losses.map((l) => `${l.step}:${l.loss.toFixed(3)}`).join('  ')}`,
      `clean accuracy     ${(100 * report.cleanAcc).toFixed(1)}%  (${cfg.evalExamples} test images)`,
      `PGD-${cfg.evalAttackSteps} accuracy    ${(100 * report.pgdAcc).toFixed(1)}%  (eps ${cfg.eps}, step 2.5*eps/${cfg.evalAttackSteps}, random start)`,
      `training time      ${fmtSecs(report.seconds)}  (${report.imagesPerSec.toFixed(0)} adversarial images/s incl. the ${cfg.attackSteps}-step attack)`,
      `device             ${s.dispatches} dispatches in ${s.submissions} submissions, ${(s.pooledBytes / 2 ** 20).toFixed(1)} MiB pooled`,
      `audit              ${v['skip-audit'] ? 'skipped' : auditOk ? 'all ops pass' : 'FAILURES (see above)'}`,
    ].join('\n'));
    return auditOk ? 0 : 1;
  } finally {
    device.destroy();
  }
}
