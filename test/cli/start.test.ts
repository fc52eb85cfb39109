/**
 * `robustgpu start` (what `npm start` runs): train's options with the start defaults, and the whole path of
 * the job on a small slice (train, evaluate on the test split, write and print the report).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { START_DEFAULTS } from '../../training/run_config.js';
import { tempDir } from '../training/report/fixture.js';

const bin = join(import.meta.dirname, '../../dist/bin/robustgpu.js');
const start = (...args: string[]) => spawnSync('node', [bin, 'start', ...args], { encoding: 'utf8', timeout: 240_000 });

describe('robustgpu start', () => {
  it("--help lists train's options with the start defaults", () => {
    const r = start('--help');
    expect(r.status).toBe(0);
    expect(START_DEFAULTS).toMatchObject({ model: 'convnet-16', activation: 'silu', objective: 'trades' });
    expect(r.stdout).toMatch(/--model NAME +architecture .*\(default: convnet-16\)/);
    expect(r.stdout).toMatch(/--activation SPEC .*\(default: silu\)/);
    expect(r.stdout).toMatch(/--attack-steps N +training attack steps \(default: 5\)/);
    expect(r.stdout).toContain('--resume RUN_DIR');
  });

  it('trains, evaluates on the test split, and ends with the report table and the path of report.html', () => {
    const dir = join(tempDir('start-'), 'run');
    const r = start('--train-limit', '600', '--held-out', '100', '--eval-n', '50', '--eval-pgd-steps', '2', '--batch', '64', '--max-steps', '4',
      '--attack-steps', '2', '--final-n', '60', '--final-pgd-steps', '3', '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`robustgpu start: starting ${dir}`);
    expect(r.stdout).toMatch(/model += convnet-16 +\(default\)/);
    expect(r.stdout).toMatch(/final evaluation: .*60/);
    expect(r.stdout).toMatch(/^pgd-3 +\d+\.\d\d%/m);
    expect(r.stdout).toContain(`report:        ${join(dir, 'report.html')}`);
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { resolved: Record<string, unknown> };
    expect(cfg.resolved).toMatchObject({ model: 'convnet-16', activation: 'silu', objective: 'trades', maxSteps: 4 });
  }, 250_000);
});
