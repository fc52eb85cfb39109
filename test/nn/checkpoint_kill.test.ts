/**
 * Crash safety of checkpoints: a child process saves a checkpoint to one path in a loop and is killed with
 * SIGKILL at random moments, often in the middle of a write. After every kill the target is absent (no save
 * finished yet) or a complete checkpoint that loads, no older than the last save the child reported; the
 * temporary file a killed save leaves is removed by the next save to the same target. The child writes what
 * saveCheckpoint writes (a real checkpoint's tensors and metadata, the epoch counting up) through the same
 * writeSafetensors of the built package (dist/, built by npm test's pretest); it imports only that module,
 * which starts in a fraction of a second where the whole engine would take seconds, and needs no GPU.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { CpuRandom } from '../../engine/ref/random.js';
import { loadCheckpoint, saveCheckpoint } from '../../nn/checkpoint.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, Sequential } from '../../nn/layers/index.js';
import { SGD } from '../../engine/optim/index.js';
import { Generator } from '../../engine/rng.js';
import { tensor } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import { crossEntropy } from '../../engine/ops/index.js';

useDevice();
const root = join(import.meta.dirname, '../..');
const built = join(root, 'dist/nn/safetensors.js');

/** The child: rewrites the seed checkpoint with a new epoch until it is killed, reporting each finished save. */
const CHILD = `
import { readSafetensors, writeSafetensors } from ${JSON.stringify(built)};
const [target, seed, first] = process.argv.slice(2);
const { tensors, metadata } = readSafetensors(seed);
const meta = JSON.parse(metadata.robustgpu);
process.stdout.write('ready\\n');
await new Promise((go) => process.stdin.once('data', go));
for (let epoch = Number(first); ; epoch++) {
  writeSafetensors(target, tensors, { ...metadata, robustgpu: JSON.stringify({ ...meta, epoch }) });
  process.stdout.write('saved ' + epoch + '\\n');
}
`;

function net(seed: number): Sequential {
  const g = new Generator(seed);
  // The wide Linear makes a save take long enough (about a megabyte to encode and fsync) to be killed inside.
  return new Sequential(new Conv2d(1, 4, 3, { padding: 1, generator: g }), new BatchNorm2d(4), new Flatten(), new Linear(4 * 4 * 4, 4096, { generator: g }));
}

describe('saveCheckpoint under kill -9', () => {
  it('after each of 20 kills at random moments the checkpoint is absent or complete, and stale temporary files go at the next save', async () => {
    expect(existsSync(built), 'dist/nn/safetensors.js is missing: build with npx tsc -p tsconfig.json (npm test\'s pretest does)').toBe(true);
    expect(statSync(built).mtimeMs, 'dist/nn/safetensors.js is older than nn/safetensors.ts: rebuild with npx tsc -p tsconfig.json').toBeGreaterThanOrEqual(statSync(join(root, 'nn/safetensors.ts')).mtimeMs);
    const dir = mkdtempSync(join(tmpdir(), 'kill-'));
    const a = net(1);
    const optA = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9 });
    scope(() => {
      crossEntropy(a.train().forward(tensor(new Float32Array(32).map((_, i) => Math.cos(i)), [2, 1, 4, 4])), tensor(Int32Array.of(0, 7), [2])).backward();
      optA.step();
      optA.zeroGrad();
    });
    const seed = join(dir, 'seed.safetensors');
    await saveCheckpoint(seed, a, { optimizer: optA, generator: new Generator(9), meta: { epoch: 0 } });
    const script = join(dir, 'child.mjs');
    writeFileSync(script, CHILD);
    const runDir = join(dir, 'run');
    mkdirSync(runDir);
    const target = join(runDir, 'last.safetensors');

    const b = net(2);
    const optB = new SGD(b.parameters(), { lr: 0.1, momentum: 0.9 });
    const genB = new Generator(0);
    const rng = new CpuRandom(20);
    const temporaries = () => readdirSync(runDir).filter((n) => n.startsWith('last.safetensors.tmp-'));
    let lastSaved = -1;
    let staleSeen = 0;
    let midWrite = 0;
    let loads = 0;
    /** A child that starts up (imports, reads the seed) and waits for a line on stdin before it saves. */
    const start = (k: number) => {
      const first = k * 1_000_000;
      const child = spawn(process.execPath, [script, target, seed, String(first)], { stdio: ['pipe', 'pipe', 'pipe'] });
      const io = { child, first, out: '', err: '' };
      child.stdout.on('data', (d: Buffer) => { io.out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { io.err += d.toString(); });
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
      const ready = Promise.race([new Promise<void>((resolve) => { const check = () => (io.out.includes('ready') ? resolve() : setTimeout(check, 2)); check(); }), exited]);
      return { ...io, io, exited, ready };
    };
    const KILLS = 20;
    let next = start(0);
    for (let k = 0; k < KILLS; k++) {
      const cur = next;
      await cur.ready;
      cur.child.stdin.write('go\n');
      // The next child starts up while this one saves, so that start-up time overlaps the runs.
      if (k + 1 < KILLS) next = start(k + 1);
      // Most kills land some saves in; every fifth inside the first.
      const early = k % 5 === 0;
      await new Promise((resolve) => setTimeout(resolve, early ? rng.next() * 10 : 10 + rng.next() * 120));
      cur.child.kill('SIGKILL');
      expect(await cur.exited, `child ${k} ended on its own: ${cur.io.err}`).toBe('SIGKILL');
      const { child, first, out } = { ...cur, out: cur.io.out };
      const saved = [...out.matchAll(/saved (\d+)/g)].map((m) => Number(m[1]));
      // The checkpoint is the last save reported, or the one after it (renamed, killed before it said so).
      const allowed = saved.length ? [saved.at(-1)!, saved.at(-1)! + 1] : [...(lastSaved >= 0 ? [lastSaved] : []), first];
      const left = temporaries();
      // A save the child finished removed every temporary file of the earlier, killed children.
      const own = (n: string) => new RegExp(`^last\\.safetensors\\.tmp-${child.pid}(-|$)`).test(n);
      if (saved.length) expect(left.filter((n) => !own(n)), `kill ${k}`).toEqual([]);
      if (left.some(own)) midWrite++;
      staleSeen = Math.max(staleSeen, left.length);
      if (!existsSync(target)) {
        expect(lastSaved, `kill ${k}: the checkpoint vanished`).toBe(-1);
        continue;
      }
      const meta = loadCheckpoint(target, b, { optimizer: optB, generator: genB });
      expect(allowed, `kill ${k}`).toContain(meta.epoch);
      lastSaved = meta.epoch as number;
      loads++;
    }
    expect(midWrite, 'kills that interrupted a write (a temporary file left behind)').toBeGreaterThan(3);
    expect(staleSeen).toBeGreaterThan(0);
    expect(loads).toBeGreaterThan(10);
    // What was loaded is the checkpoint's content, and the next save in this process cleans up.
    for (const [[k, ta], [, tb]] of a.stateDict().map((e, i) => [e, b.stateDict()[i]!] as const)) expect(Array.from(await tb.read()), k).toEqual(Array.from(await ta.read()));
    await saveCheckpoint(target, b);
    expect(temporaries()).toEqual([]);
    [optA, optB, a, b].forEach((x) => x.dispose());
  }, 120_000);
});
