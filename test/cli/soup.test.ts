/**
 * `robustgpu soup SUBCOMMAND`: through the built binary as a user runs it (npm test builds dist/ first; by
 * hand: npx tsc -p tsconfig.json), and runSoup in process where that is faster. The ingredients are tiny
 * ConvNet-4s on Fashion-MNIST: a base, a clean and a PGD-AT fine-tune of it (linearly connected), and a
 * network trained independently from scratch (its midpoint with the base collapses: refused).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { Generator } from '../../engine/rng.js';
import { scope } from '../../engine/scope.js';
import { SGD } from '../../engine/optim/index.js';
import { buildModel } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import { saveCheckpoint } from '../../nn/checkpoint.js';
import { modelFromCheckpoint } from '../../nn/model_io.js';
import { readSafetensors } from '../../nn/safetensors.js';
import { loadDataset } from '../../training/data/datasets.js';
import { splitHeldOut } from '../../training/data/splits.js';
import { DataLoader } from '../../training/data/loader.js';
import { pgdAtStep, standardStep } from '../../training/steps.js';
import { runSoup, type SoupRun } from '../../training/soups/run.js';
import { tempDir } from '../training/report/fixture.js';

const dev = useDevice();
const bin = join(import.meta.dirname, '../../dist/bin/robustgpu.js');
const soup = (...args: string[]) => spawnSync('node', [bin, 'soup', ...args], { encoding: 'utf8', cwd: tempDir('soup-cwd-') });
// Small everywhere: 64 held-out images, PGD-1 there, 32 test images with PGD-2.
const SMALL = ['--held-out', '64', '--pgd-steps', '1', '--test-n', '32', '--final-pgd-steps', '2', '--batch', '64'];
const ARCH = 'convnet-4';
// As robustgpu train records its run: the soup takes the same held-out split.
const META = { architecture: ARCH, numClasses: 10, dataset: 'fashion-mnist', config: { dataset: 'fashion-mnist', heldOut: 200, seed: 0 } };

const dir = tempDir('soup-ingredients-');
const path = (name: string) => join(dir, `${name}.safetensors`);

function fit(m: Module, steps: number, seed: number, o: { lr?: number; adversarial?: boolean } = {}): Module {
  const { train } = splitHeldOut(loadDataset('fashion-mnist', 'train'), { heldOut: 200, seed: 0 });
  const opt = new SGD(m.parameters(), { lr: o.lr ?? 0.1, momentum: 0.9 });
  const loader = new DataLoader(train, { batchSize: 64, seed, prefetch: false });
  const g = new Generator(seed);
  for (let i = 0; i < steps; i++) {
    const b = loader.next();
    scope(() => { (o.adversarial ? pgdAtStep(m, opt, b, { eps: 0.1, alpha: 0.05, steps: 2, generator: g }) : standardStep(m, opt, b)).dispose(); });
    b.x.dispose();
    b.y.dispose();
  }
  loader.dispose();
  opt.dispose();
  return m.eval();
}

const fresh = (seed: number) => buildModel(ARCH, { generator: new Generator(seed) });
async function save(name: string, m: Module): Promise<void> {
  await saveCheckpoint(path(name), m, { meta: META });
}

beforeAll(async () => {
  const base = fit(fresh(0), 100, 0);
  await save('base', base);
  for (const [name, o] of [['clean', { seed: 1 }], ['robust', { seed: 2, adversarial: true }]] as const) {
    const ft = fresh(9);
    ft.loadStateDict(new Map(base.stateDict()));
    await save(name, fit(ft, 12, o.seed, { lr: 0.05, adversarial: 'adversarial' in o }));
    ft.dispose();
  }
  base.dispose();
  const independent = fit(fresh(7), 100, 3);
  await save('independent', independent);
  independent.dispose();
});

describe('robustgpu soup: help and usage errors', () => {
  it('--help lists the subcommands; each subcommand has its own options', () => {
    const top = soup('--help');
    expect(top.status).toBe(0);
    for (const m of ['curve', 'uniform', 'greedy', 'grid', 'learned']) expect(top.stdout).toMatch(new RegExp(`^  ${m} `, 'm'));
    const learned = soup('learned', '--help');
    expect(learned.status).toBe(0);
    expect(learned.stdout).toContain('Usage: robustgpu soup learned INGREDIENT.safetensors');
    for (const f of ['--granularity', '--param', '--temperature', '--loss', '--lambda', '--steps', '--lr', '--attack-steps', '--force', '--recompute-bn']) expect(learned.stdout).toContain(f);
    const curve = soup('curve', '--help');
    expect(curve.stdout).toContain('--points');
    expect(curve.stdout).not.toContain('--force');
    expect(soup('grid', '--help').stdout).toContain('--step');
  });

  it('exits 2 naming the problem', () => {
    const cases: [string[], string][] = [
      [[], 'Usage: robustgpu soup SUBCOMMAND'],
      [['stew', path('base')], "soup: unknown subcommand 'stew'; expected one of curve, uniform, greedy, grid, learned"],
      [['curve', path('base')], 'soup curve: expected two ingredient checkpoints, got 1'],
      [['greedy', path('base')], 'soup greedy: expected two or more ingredient checkpoints, got 1'],
      [['learned', path('base'), path('clean'), '--granularity', 'block'], "soup learned: --granularity expects one of model, layer, got 'block'"],
      [['greedy', path('base'), path('clean'), '--clean-weight', '2'], "soup greedy: --clean-weight expects a number >= 0 <= 1, got '2'"],
      [['greedy', path('base'), path('clean'), '--criterion', 'clean', '--clean-weight', '0.3'], '--clean-weight weighs the weighted criterion; it conflicts with --criterion clean'],
      [['uniform', path('base'), path('clean'), '--bn-data', 'clean+adversarial'], '--bn-data chooses the images of --recompute-bn N'],
      [['grid', path('base'), path('clean'), '--step', '0.3'], 'soup grid: --step expects a step dividing 1 (0.05, 0.1, 0.25, ...), got 0.3'],
      [['grid', path('base'), path('clean'), '--temperature', '0.1'], "soup grid: Unknown option '--temperature'"],
    ];
    for (const [args, message] of cases) {
      const r = soup(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
  });
});

describe('robustgpu soup: methods', () => {
  it('a --test-n larger than the test split is refused before any evaluation', () => {
    const r = soup('uniform', path('base'), path('clean'), '--held-out', '64', '--pgd-steps', '1', '--test-n', '20000', '--out', join(tempDir('soup-testn-'), 'out'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('soup uniform: runSoup: testN 20000 asks for more images than the fashion-mnist test split has (10000)');
    expect(r.stderr).not.toContain('connectivity');
  });

  it('a uniform soup of two identical checkpoints is the checkpoint (in process: runSoup)', async () => {
    const out = tempDir('soup-uniform-');
    const live = dev().stats().liveTensors;
    const run: SoupRun = await runSoup('uniform', [path('clean'), path('clean')], { outDir: out, heldOut: 32, pgdSteps: 1, testN: 0 });
    expect(dev().stats().liveTensors).toBe(live);
    expect(run.soup!.coefficients).toEqual([0.5, 0.5]);
    expect(run.split).toMatchObject({ heldOut: 32, splitSize: 200, splitSeed: 0, fromTrainingRun: true });
    expect(run.soup!.heldOut).toEqual(run.ingredients[0]!.heldOut);
    const [got, want] = [readSafetensors(join(out, 'soup.safetensors')).tensors, readSafetensors(path('clean')).tensors];
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const [k, t] of want) expect(bytes(got.get(k)!.data).equals(bytes(t.data)), k).toBe(true);
  });

  it('learned (per layer): soup.safetensors loads with modelFromCheckpoint; soup.json, plane.svg and report.html are written', () => {
    const out = join(tempDir('soup-learned-'), 'out');
    const r = soup('learned', path('clean'), path('robust'), ...SMALL, '--granularity', 'layer', '--steps', '4', '--eval-every', '2', '--train-batch', '32', '--attack-steps', '1', '--out', out);
    expect(r.stderr).not.toMatch(/^warning:|Error/m);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^model +held-out clean +held-out pgd-1 +test clean +test pgd-2 +coefficient$/m);
    expect(r.stdout).toMatch(/^clean\.safetensors +\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d% +per layer$/m);
    expect(r.stdout).toMatch(/^learned soup +\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d%$/m);
    expect(r.stdout).toMatch(/^features\.fc2 +0\.\d{3} +0\.\d{3}$/m);
    expect(r.stdout).toMatch(/time: connectivity check \d+\.\d s, learned soup \d+\.\d s, final evaluation/);
    expect(r.stdout).toContain(`report: ${join(out, 'report.html')}`);
    expect(r.stderr).toContain('learned [');
    const { model, meta } = modelFromCheckpoint(join(out, 'soup.safetensors'));
    expect((meta.soup as { method: string }).method).toBe('learned');
    expect(meta.dataset).toBe('fashion-mnist');
    model.dispose();
    const json = JSON.parse(readFileSync(join(out, 'soup.json'), 'utf8')) as SoupRun;
    expect(json.ingredients.map((e) => e.test.map((x) => x.attack))).toEqual([['clean', 'pgd-2'], ['clean', 'pgd-2']]);
    expect(json.soup!.layers).toEqual(['features.conv1', 'features.conv2', 'features.fc1', 'features.fc2']);
    expect((json.soup!.details.history as unknown[]).length).toBe(3);
    expect(json.soup!.bnText).toBe('no BatchNorm layers');
    expect(json.connectivity.curves[0]!.points.length).toBe(11);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(existsSync(join(out, 'plane.svg'))).toBe(true);
  });

  it('greedy (3 ingredients) and grid (K = 2) print their tables', () => {
    const g = soup('greedy', path('base'), path('clean'), path('robust'), ...SMALL, '--criterion', 'robust', '--recompute-bn', '64', '--out', tempDir('soup-greedy-'));
    expect(g.status).toBe(0);
    expect(g.stdout).toMatch(/^greedy soup: coefficients \[[\d.]+, [\d.]+, [\d.]+\], chosen on the held-out split by robust accuracy/m);
    expect(g.stdout).toMatch(/^base\.safetensors +(\d+\.\d\d% +){4}[01]\.\d{3}$/m);
    expect(g.stdout).toMatch(/^greedy soup +(\d+\.\d\d% +){3}\d+\.\d\d%$/m);
    expect(g.stderr).toContain('warning: the ingredients have no BatchNorm layers');
    const grid = soup('grid', path('clean'), path('robust'), ...SMALL, '--step', '0.25', '--final-attacks', 'clean', '--out', tempDir('soup-grid-'));
    expect(grid.status).toBe(0);
    expect(grid.stdout).toMatch(/^model +held-out clean +held-out pgd-1 +test clean +coefficient$/m);
    expect(grid.stdout).toMatch(/^grid soup: coefficients \[(0\.000|0\.250|0\.500|0\.750|1\.000), /m);
    expect(grid.stderr).toContain('grid [');
  });

  it('refuses two independently trained networks (exit 1, the curve and the message), and soups them with --force', () => {
    const no = soup('uniform', path('base'), path('independent'), ...SMALL, '--out', tempDir('soup-refused-'));
    expect(no.status).toBe(1);
    expect(no.stderr).toMatch(/soup uniform: refused: the ingredients are not linearly connected: between .*base\.safetensors and .*independent\.safetensors, (clean|PGD) accuracy at t = 0\.\d0/);
    expect(no.stderr).toContain('pass --force to soup anyway');
    expect(no.stderr).toMatch(/^0\.50 +\d+\.\d\d% +\d+\.\d\d%$/m);
    const forced = soup('uniform', path('base'), path('independent'), ...SMALL, '--force', '--out', tempDir('soup-forced-'));
    expect(forced.status).toBe(0);
    expect(forced.stderr).toContain('warning: the ingredients failed the connectivity check; souped anyway (--force)');
    expect(forced.stdout).toMatch(/^uniform soup +(\d+\.\d\d% +){3}\d+\.\d\d%$/m);
  });
});
