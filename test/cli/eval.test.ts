/**
 * `robustgpu eval CHECKPOINT` through the built binary: the model is rebuilt from the checkpoint's metadata,
 * the rows come out as a table and as JSON (per-example correctness that agrees with the accuracy), and
 * usage errors exit 2 naming the problem.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, setDefaultDevice } from '../../engine/device.js';
import { Generator } from '../../engine/rng.js';
import { SmallCNN } from '../../nn/models/index.js';
import { saveCheckpoint } from '../../nn/checkpoint.js';
import { tempDir } from '../training/report/fixture.js';

const bin = join(import.meta.dirname, '../../dist/bin/robustgpu.js');
const run = (...args: string[]) => spawnSync('node', [bin, 'eval', ...args], { encoding: 'utf8' });

let ckpt = '';
beforeAll(async () => {
  const device = await Device.create();
  setDefaultDevice(device);
  const model = new SmallCNN({ inChannels: 3, generator: new Generator(3) });
  ckpt = join(tempDir('eval-'), 'model.safetensors');
  await saveCheckpoint(ckpt, model, { meta: { architecture: 'smallcnn', inChannels: 3, numClasses: 10, dataset: 'synthetic' } });
  model.dispose();
  setDefaultDevice(null);
  await device.close();
});
afterAll(() => setDefaultDevice(null));

describe('robustgpu eval', () => {
  it('--help prints the usage and the options', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: robustgpu eval CHECKPOINT');
    expect(r.stdout).toContain('--pgd-steps');
  });

  it('--precision f16-mixed evaluates with f16 operands, says so, and stays close to float32', () => {
    const out = tempDir('eval-f16-');
    const args = [ckpt, '--n', '24', '--attacks', 'clean,pgd', '--pgd-steps', '3', '--batch', '12', '--skip-checks'];
    const half = run(...args, '--precision', 'f16-mixed', '--json', join(out, 'half.json'));
    expect(half.status, half.stderr).toBe(0);
    expect(half.stdout).toContain('model smallcnn, data set synthetic, precision f16-mixed');
    const full = run(...args, '--json', join(out, 'full.json'));
    expect(full.stdout).not.toContain('precision');
    type Rep = { precision: string; rows: { correct: string }[] };
    const [h, f] = ['half', 'full'].map((n) => JSON.parse(readFileSync(join(out, `${n}.json`), 'utf8')) as Rep);
    expect([h!.precision, f!.precision]).toEqual(['f16-mixed', 'float32']);
    const differ = [...h!.rows[0]!.correct].filter((c, i) => c !== f!.rows[0]!.correct[i]).length;
    expect(differ, 'clean predictions that f16 operands change, of 24').toBeLessThanOrEqual(2);
  });

  it("evaluates the checkpoint's model on its data set: a table, and JSON whose correctness matches each accuracy", () => {
    const json = join(tempDir('eval-out-'), 'eval.json');
    const r = run(ckpt, '--n', '24', '--attacks', 'clean,fgsm,pgd', '--pgd-steps', '3', '--batch', '12', '--skip-checks', '--json', json);
    // stderr carries the progress bars (one per row), nothing else.
    expect(r.stderr).not.toMatch(/^warning:|Error/m);
    expect(r.stderr).toContain('pgd-3');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('on the first 24 images of the test split, linf eps 0.1');
    expect(r.stdout).toContain('model smallcnn, data set synthetic');
    expect(r.stdout).toMatch(/^clean +\d+\.\d\d% +\d+\.\d/m);
    expect(r.stdout).toMatch(/^pgd-3 +\d+\.\d\d% +\d+\.\d +steps 3, restarts 1/m);
    const rep = JSON.parse(readFileSync(json, 'utf8')) as { dataset: string; rows: { attack: string; accuracy: number; correct: string }[] };
    expect(rep.dataset).toBe('synthetic');
    expect(rep.rows.map((x) => x.attack)).toEqual(['clean', 'fgsm', 'pgd-3']);
    for (const row of rep.rows) {
      expect(row.correct).toMatch(/^[01]{24}$/);
      expect(row.accuracy).toBeCloseTo([...row.correct].filter((c) => c === '1').length / 24, 10);
    }
    // An attack never turns a wrong answer right: robust-correct implies clean-correct, per example.
    const clean = rep.rows[0]!.correct;
    for (const row of rep.rows.slice(1)) for (let i = 0; i < 24; i++) if (row.correct[i] === '1') expect(clean[i], `${row.attack} example ${i}`).toBe('1');
  });

  it('exits 2 naming the problem: no checkpoint, more examples than the split, a bad budget', () => {
    const none = run();
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('eval: expected one checkpoint, got 0');
    const many = run(ckpt, '--n', '5000', '--attacks', 'clean');
    expect(many.status).toBe(2);
    expect(many.stderr).toContain('--n 5000 asks for more examples than the synthetic test split has (1000)');
    const bad = run(ckpt, '--eps', '-1');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--eps');
  });

  it('a file that is not a checkpoint fails naming the file', () => {
    const dir = tempDir('eval-bad-');
    const r = run(join(dir, 'missing.safetensors'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(join(dir, 'missing.safetensors'));
  });
});
