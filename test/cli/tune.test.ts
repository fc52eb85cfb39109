/** `robustgpu tune MODEL` writes the tune cache that `robustgpu info` then shows (the built binary, a cache file of the test's). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '../../dist/bin/robustgpu.js');

describe('robustgpu tune', () => {
  it('tunes the matmuls and convolutions of a SmallCNN step at batch 4, writes the cache, and robustgpu info shows it', () => {
    const cache = join(mkdtempSync(join(tmpdir(), 'tune-cli-')), 'tune.json');
    const env = { ...process.env, ROBUSTGPU_TUNE_CACHE: cache };
    const run = spawnSync('node', [bin, 'tune', 'smallcnn', '--batch', '4', '--reps', '2'], { encoding: 'utf8', env });
    expect(run.status, run.stderr).toBe(0);
    const file = JSON.parse(readFileSync(cache, 'utf8')) as { key: { version: string }; entries: Record<string, { choice: { variant: string }; ms: Record<string, number> }> };
    const ops = new Set(Object.keys(file.entries).map((k) => k.split(' ')[0]));
    expect([...ops].sort()).toEqual(['conv2d_dw', 'conv2d_dx', 'conv2d_fwd', 'matmul']);
    for (const [k, e] of Object.entries(file.entries)) expect(Object.keys(e.ms), k).toContain('default');
    const count = Object.keys(file.entries).length;
    expect(run.stdout).toContain(`${count} shape classes, ${count} tuned now`);

    // A second run finds every class cached.
    const again = spawnSync('node', [bin, 'tune', 'smallcnn', '--batch', '4', '--json'], { encoding: 'utf8', env });
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ met: count, tuned: [], cache: { path: cache, entries: count } });

    const info = spawnSync('node', [bin, 'info'], { encoding: 'utf8', env });
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout).toContain(`tune cache   ${cache}`);
    expect(info.stdout).toContain(`${count} entries`);
    expect(info.stdout).toContain(`robustgpu ${file.key.version}`);
    const json = spawnSync('node', [bin, 'info', '--json'], { encoding: 'utf8', env });
    expect(JSON.parse(json.stdout).tuneCache).toMatchObject({ path: cache, entries: count, stale: null });
    // About 10 s with Mesa's shader cache warm; the first run after a kernel changes compiles some 20 pipelines
    // on lavapipe (2-8 s each).
  }, 300_000);

  it('refuses a missing model and contradicting flags with exit code 2', () => {
    const a = spawnSync('node', [bin, 'tune'], { encoding: 'utf8' });
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/tune: expected one model name/);
    const b = spawnSync('node', [bin, 'tune', 'smallcnn', '--quick', '--full'], { encoding: 'utf8' });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--quick and --full contradict/);
  });
});
