#!/usr/bin/env node
// `npm test` after the type check: vitest over every test file, and one rerun of a file whose worker process
// died mid-file. Each file runs in its own process on lavapipe (Mesa's Vulkan on the CPU, through Dawn); a
// native crash there kills that process and vitest can only say "Worker exited unexpectedly", leaving the
// file's remaining tests pending (CI lost a run that way, every test that did run having passed). Such a
// file is named and run once more on its own; a test that fails, or a file that dies twice, fails the run.
//   node scripts/test.mjs [vitest arguments...]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const vitest = join('node_modules', 'vitest', 'vitest.mjs');

/** Runs vitest with the default reporter on the terminal and a JSON report aside; returns its exit code and the report. */
function run(args) {
  const dir = mkdtempSync(join(tmpdir(), 'robustgpu-test-'));
  const file = join(dir, 'report.json');
  try {
    const r = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${file}`, ...args], { stdio: 'inherit' });
    let report = null;
    try { report = JSON.parse(readFileSync(file, 'utf8')); } catch { /* vitest died before writing it */ }
    return { status: r.status ?? 1, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Files with a test left pending (started or queued, never finished) while no test failed anywhere: a dead worker. */
function diedMidFile(report) {
  const files = report?.testResults ?? [];
  const failed = files.some((f) => f.assertionResults.some((a) => a.status === 'failed'));
  if (failed) return [];
  return files.filter((f) => f.assertionResults.some((a) => a.status === 'pending')).map((f) => relative(process.cwd(), f.name));
}

const args = process.argv.slice(2);
const first = run(args);
if (first.status === 0) process.exit(0);
const died = diedMidFile(first.report);
if (died.length === 0 || died.length > 2) process.exit(first.status);
console.error(`\nscripts/test.mjs: the worker running ${died.join(', ')} exited mid-file with no test failed (a native crash in the WebGPU stack); running ${died.length === 1 ? 'it' : 'them'} once more on ${died.length === 1 ? 'its' : 'their'} own.\n`);
const again = run(died);
if (again.status === 0) console.error(`scripts/test.mjs: ${died.join(', ')} passed on the rerun; the crash is reported above.`);
process.exit(again.status);
