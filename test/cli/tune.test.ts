/** `robustgpu tune MODEL` writes the tune cache that `robustgpu info` then shows (the built binary, a cache file of the test's). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tuneCommand } from '../../cli/tune.js';

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

    // --retune times them all again and keeps the file's entries.
    const re = spawnSync('node', [bin, 'tune', 'smallcnn', '--batch', '4', '--reps', '1', '--retune', '--json'], { encoding: 'utf8', env });
    expect(re.status, re.stderr).toBe(0);
    expect((JSON.parse(re.stdout) as { tuned: unknown[] }).tuned).toHaveLength(count);
    expect(Object.keys((JSON.parse(readFileSync(cache, 'utf8')) as { entries: object }).entries)).toHaveLength(count);

    const info = spawnSync('node', [bin, 'info'], { encoding: 'utf8', env });
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout).toContain(`tune cache   ${cache}`);
    expect(info.stdout).toContain(`${count} entries`);
    expect(info.stdout).toContain(`robustgpu ${file.key.version}`);
    // About 10 s with Mesa's shader cache warm; the first run after a kernel changes compiles some 20 pipelines
    // on lavapipe (2-8 s each).
  }, 300_000);

  it('refuses a missing model and contradicting flags, naming them', async () => {
    await expect(tuneCommand([])).rejects.toThrow(/tune: expected one model name/);
    await expect(tuneCommand(['smallcnn', '--quick', '--full'])).rejects.toThrow(/--quick and --full contradict/);
    await expect(tuneCommand(['smallcnn', '--batch', '0'])).rejects.toThrow(/--batch expects a positive integer, got '0'/);
  });
});
