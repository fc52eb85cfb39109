import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseCommand, UsageError } from '../../cli/args.js';
import { auditSpec, auditCommand } from '../../cli/audit.js';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'dist/bin/robustgpu.js');

describe('command-line arguments', () => {
  it('an unknown flag names it and lists the valid ones', () => {
    expect(() => parseCommand(auditSpec, ['--bogus'])).toThrow(UsageError);
    expect(() => parseCommand(auditSpec, ['--bogus'])).toThrow(/'--bogus'.*Valid options: --op, --json, --cases/);
  });

  it('--help prints the usage instead of running', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(parseCommand(auditSpec, ['--help'])).toBeNull();
    expect(log.mock.calls[0]![0]).toContain('Usage: robustgpu audit');
    log.mockRestore();
  });
});

describe('robustgpu audit --cases exit codes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const t = (shape: number[], data: number[], dtype = 'float32') => ({ shape, dtype, data });
  const file = (name: string, y: number[]) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify({ schema_version: 1, cases: [{ name: 'neg', op: 'neg', params: {}, inputs: { x: t([2], [1, -2]) }, outputs: { y: t([2], y, 'float64') }, gout: null, gout_for: null, grads: {} }] }));
    return p;
  };
  const quiet = () => [vi.spyOn(console, 'log').mockImplementation(() => {}), vi.spyOn(console, 'error').mockImplementation(() => {})];

  it('0 when every case passes, 1 when one fails, 2 for a malformed file', async () => {
    const spies = quiet();
    try {
      expect(await auditCommand(['--cases', file('ok.json', [-1, 2])])).toBe(0);
      expect(await auditCommand(['--cases', file('bad.json', [-1, 3])])).toBe(1);
      const broken = join(dir, 'broken.json');
      writeFileSync(broken, '{"schema_version": 1, "cases": [{"name": "x"}]}');
      expect(await auditCommand(['--cases', broken])).toBe(2);
    } finally {
      spies.forEach((s) => s.mockRestore());
    }
  });
});

describe('the robustgpu binary', () => {
  it('is built (npm test builds it through the pretest set-up)', () => {
    expect(existsSync(bin)).toBe(true);
  });

  it('exits 2 on an unknown command or flag, naming the valid ones', () => {
    const a = spawnSync('node', [bin, 'fly'], { encoding: 'utf8' });
    expect(a.status).toBe(2);
    expect(a.stderr).toContain("unknown command 'fly'");
    const b = spawnSync('node', [bin, 'info', '--colour'], { encoding: 'utf8' });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--colour.*Valid options: --json, --backend, --adapter/);
  });

  it('model prints the layers with output shapes, the parameter count and FLOPs', () => {
    const out = execFileSync('node', [bin, 'model', 'wrn-16-4', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const s = JSON.parse(out) as { params: number; flops: number; rows: { name: string; output: number[] }[] };
    expect(s.params).toBe(2748890);
    expect(s.rows.at(-1)).toMatchObject({ name: 'fc', output: [1, 10] });
    // Hand count: 3x3 convs of the three groups plus the stem, shortcuts and fc, at 32x32 input.
    expect(s.flops).toBeGreaterThan(7.8e8);
    expect(s.flops).toBeLessThan(7.9e8);
  });

  it('info prints the adapter and the limits requested', () => {
    const out = execFileSync('node', [bin, 'info', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const info = JSON.parse(out) as { vendor: string; limits: Record<string, number> };
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(typeof info.vendor).toBe('string');
  });
});

describe('robustgpu train', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [join(root, 'dist/bin/robustgpu.js'), 'train', ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });

  it('--help lists the options with their defaults, from the one declaration', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--attack-steps N\s+training attack steps \(default: 10\)/);
    expect(r.stdout).toMatch(/--objective VALUE\s+training objective \(standard \| pgd-at \| trades \| w-trades\) \(default: trades\)/);
    expect(r.stdout).toMatch(/--config FILE/);
  });

  it('refuses a config file with an unknown key or a bad value, naming the key, and a bad flag keeping node\'s hint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ epochs: 2, atackSteps: 3 }));
    let r = run(['--config', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--config .*bad\.json: key 'atackSteps': unknown key/);
    writeFileSync(bad, JSON.stringify({ eps: 'big' }));
    r = run(['--config', bad]);
    expect(r.stderr).toMatch(/key 'eps' expects a number > 0, got 'big'/);
    r = run(['--attack-steps', '2.5']);
    expect(r.stderr).toMatch(/--attack-steps expects an integer >= 1, got '2\.5'/);
    r = run(['--eps', '-1']);
    expect(r.stderr).toMatch(/To specify an option argument starting with a dash use '--eps=-XYZ'/);
    r = run(['--eps=-1']);
    expect(r.stderr).toMatch(/--eps expects a number > 0, got '-1'/);
  });
});
