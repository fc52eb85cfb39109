/**
 * scripts/test.mjs (what `npm test` runs after the type check), on a throw-away project of tiny test files:
 * a file whose worker dies mid-file with no test failed is named and rerun once; a second death, or a
 * failed test anywhere, fails the run.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** A project with the given test files (name -> source), using this checkout's node_modules. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'robustgpu-runner-'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'vitest.config.mjs'), "export default { test: { include: ['t/*.test.mjs'], fileParallelism: false } };\n");
  mkdirSync(join(dir, 't'));
  for (const [name, src] of Object.entries(files)) writeFileSync(join(dir, 't', name), `import { it, expect } from 'vitest';\nimport { existsSync, writeFileSync } from 'node:fs';\n${src}\n`);
  return dir;
}

function runner(dir: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'test.mjs')], { cwd: dir, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  return { status: r.status, out: r.stdout + r.stderr };
}

const ok = "it('passes', () => expect(1).toBe(1));";
// Dies (as a segfault would) in its second test, the first time only, or every time.
const dies = (once: boolean) => `it('first', () => expect(1).toBe(1));
it('second', async () => {
  await new Promise((r) => setTimeout(r, 50));
  const mark = new URL('./died', import.meta.url).pathname;
  if (${!once} || !existsSync(mark)) { writeFileSync(mark, ''); process.kill(process.pid, 'SIGSEGV'); }
});
it('third', () => expect(1).toBe(1));`;

describe('scripts/test.mjs', () => {
  it('reruns, by name, a file whose worker died once, and passes', () => {
    const r = runner(project({ 'a.test.mjs': ok, 'b.test.mjs': dies(true) }));
    expect(r.out).toContain('the worker running t/b.test.mjs exited mid-file with no test failed');
    expect(r.out).toContain('t/b.test.mjs passed on the rerun');
    expect(r.status, r.out).toBe(0);
  });

  it('fails when the file dies again, or when a test failed', () => {
    const twice = runner(project({ 'a.test.mjs': ok, 'b.test.mjs': dies(false) }));
    expect(twice.out).toContain('running it once more');
    expect(twice.status, twice.out).not.toBe(0);
    const failing = runner(project({ 'a.test.mjs': "it('fails', () => expect(1).toBe(2));", 'b.test.mjs': dies(true) }));
    expect(failing.out).not.toContain('once more');
    expect(failing.status, failing.out).not.toBe(0);
  });
});
