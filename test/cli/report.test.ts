import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir, writeRun } from '../training/report/fixture.js';

// Through the built binary, as a user runs it (npm test builds dist/ first; by hand: npx tsc -p tsconfig.json).
const bin = join(import.meta.dirname, '../../dist/bin/robustgpu.js');
const report = (...args: string[]) => spawnSync('node', [bin, 'report', ...args], { encoding: 'utf8', cwd: tempDir('report-cwd-') });

describe('robustgpu report', () => {
  it('--help prints the usage and exits 0', () => {
    const r = report('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: robustgpu report RUN_DIR [--out DIR]');
    expect(r.stdout).toContain('--out DIR');
  });

  it('writes the run report into the run directory and prints the table', () => {
    const dir = writeRun(join(tempDir(), 'trades'));
    const r = report(dir);
    expect(r.stderr).toBe('warning: sanity check failed: more steps do not help: PGD-100 is 0.4 points below PGD-20\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('trades: stopped: done at step 300 (epoch 3)');
    expect(r.stdout).toMatch(/pgd-20 +52\.37% +34\.5 s {2}steps 20, restarts 1, alpha 0\.0125/);
    expect(r.stdout).toMatch(new RegExp(`wrote ${join(dir, 'report.html')} \\(\\d+\\.\\d KB\\) and ${join(dir, 'loss.svg')}, ${join(dir, 'accuracy.svg')}`));
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('<td class="num">52.37%</td>');
  });

  it('compares several runs into --out, and refuses several runs without it', () => {
    const root = tempDir();
    const a = writeRun(join(root, 'a'));
    const b = writeRun(join(root, 'b'), { lr: 0.1 });
    const no = report(a, b);
    expect(no.status).toBe(2);
    expect(no.stderr).toContain('report: comparing 2 runs needs --out DIR');
    const r = report(a, b, '--out', join(root, 'cmp'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^a +86\.12% +52\.37% +48\.15% +3 +done$/m);
    expect(r.stdout).toMatch(/^lr +0\.05 +0\.1$/m);
    expect(existsSync(join(root, 'cmp', 'plane.svg'))).toBe(true);
  });

  it('exits 2 naming the problem for a missing directory, a malformed metrics line, or an unknown flag', () => {
    const root = tempDir();
    const missing = report(join(root, 'nope'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe(`report: ${join(root, 'nope')}: no such directory\n`);
    const dir = writeRun(join(root, 'bad'));
    writeFileSync(join(dir, 'metrics.jsonl'), '{"type":"step","epoch":0,"step":50,"loss":1}\n{"type":"step",\n{"type":"stop","reason":"done","step":50,"epoch":0}\n');
    const bad = report(dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(new RegExp(`^report: ${join(dir, 'metrics.jsonl')}:2: not valid JSON`));
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
    const flag = report(dir, '--colour');
    expect(flag.status).toBe(2);
    expect(flag.stderr).toMatch(/--colour.*valid options: --out, --robust, --config, --help/);
    expect(report().status).toBe(2);
  });
});
