/**
 * Training runs: every objective lowers its loss on a Fashion-MNIST slice; W-TRADES fine-tunes from a
 * checkpoint; a run resumed from its checkpoint gives the same next losses as the uninterrupted run, bit for
 * bit; a non-finite step stops the run naming its step, with the weights of the last good step; the run
 * directory holds the configuration, JSON-lines metrics, checkpoints and the evaluation; memory stays flat.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { train, trainConfig, withInitModel } from '../../training/run.js';
import { buildModel } from '../../nn/models/index.js';
import { saveCheckpoint } from '../../nn/checkpoint.js';
import { readSafetensors } from '../../nn/safetensors.js';
import { writeRunReport } from '../../training/report/report.js';
import type { TrainConfig } from '../../training/run_config.js';

const dev = useDevice();

/** A small, quick run: 480 training images in batches of 32 (15 steps an epoch), 2 attack steps, no final evaluation. */
function quick(over: Partial<Record<keyof TrainConfig, unknown>> = {}): TrainConfig {
  return trainConfig({
    model: 'convnet', trainLimit: 512, heldOut: 32, evalN: 32, evalPgdSteps: 2, batch: 32, epochs: 1, attackSteps: 2, logEvery: 1,
    finalEval: [], ...over,
  }).config;
}

function lines(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}
const stepLosses = (dir: string) => lines(dir).filter((l) => l.type === 'step').map((l) => [l.step, l.loss] as [number, number]);
const fresh = () => mkdtempSync(join(tmpdir(), 'run-'));

describe('train', () => {
  it.each(['standard', 'pgd-at', 'trades'] as const)('%s lowers its training loss and writes the run directory', async (objective) => {
    const dir = fresh();
    const res = await train(quick({ objective, lr: 0.05, ...(objective === 'trades' ? { finalEval: ['clean'], finalN: 64 } : {}) }), dir, { device: dev() });
    expect(res.fit.reason).toBe('done');
    const losses = stepLosses(dir).map(([, l]) => l);
    const first = losses.slice(0, 3).reduce((s, v) => s + v, 0) / 3;
    const last = losses.slice(-3).reduce((s, v) => s + v, 0) / 3;
    expect(last, `${objective}: ${losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(first);
    for (const f of ['config.json', 'metrics.jsonl', 'checkpoints/last.safetensors', 'checkpoints/best.safetensors']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(existsSync(join(dir, 'eval.json'))).toBe(objective === 'trades');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { resolved: TrainConfig };
    expect(cfg.resolved.objective).toBe(objective);
    const ep = lines(dir).find((l) => l.type === 'epoch') as { eval: { clean: number; robust?: number } };
    expect(ep.eval.clean).toBeGreaterThan(0);
  });

  it('W-TRADES fine-tunes from a TRADES checkpoint (a reconstruction of Bai et al. 2025)', async () => {
    const base = fresh();
    await train(quick({ objective: 'trades', activation: 'silu', finalEval: [] }), base, { device: dev() });
    const dir = fresh();
    const res = await train(quick({ objective: 'w-trades', init: join(base, 'checkpoints', 'last.safetensors'), lr: 0.01, maxSteps: 4, jitter: 1e-3, wUpsilon: 'running', finalEval: ['clean', 'pgd'], finalN: 24, finalPgdSteps: 2, finalWN: 8 }), dir, { device: dev() });
    expect(res.fit.reason).toBe('max-steps');
    expect(stepLosses(dir).every(([, l]) => Number.isFinite(l))).toBe(true);
    // Its final table has the distributional rows at eps/2 and eps, on the images they say.
    const rows = res.eval!.rows;
    expect(rows.map((r) => r.attack)).toEqual(['clean', 'pgd-2', 'distributional delta 0.05', 'distributional delta 0.1']);
    expect(rows.slice(2).map((r) => r.settings.images)).toEqual([8, 8]);
    expect(JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')).rows.length).toBe(4);
    // The model is the checkpoint's, and config.json says so.
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { resolved: TrainConfig; sources: Record<string, string> };
    expect([cfg.resolved.model, cfg.resolved.activation, cfg.sources.activation]).toEqual(['convnet', 'silu', 'init']);
    // ... which the report reads back
    expect((await writeRunReport(dir)).text).toContain('distributional delta 0.1');
  });

  it('with --init, a model or activation given otherwise than the checkpoint\'s is refused, naming both', async () => {
    const init = join(fresh(), 'ckpt.safetensors');
    const m = buildModel('convnet', { activation: 'silu', device: dev() });
    await saveCheckpoint(init, m, { meta: { architecture: 'convnet', activation: 'silu' } });
    m.dispose();
    const c = quick({ objective: 'w-trades', init });
    expect(withInitModel(c, { model: 'default', activation: 'default' })).toMatchObject({ config: { model: 'convnet', activation: 'silu' }, sources: { model: 'default', activation: 'init' } });
    expect(() => withInitModel({ ...c, model: 'smallcnn' }, { model: 'flag' })).toThrow(`train: model 'smallcnn' (flag) conflicts with --init ${init}, whose architecture is 'convnet'`);
    expect(() => withInitModel({ ...c, activation: 'gelu' }, { activation: 'config' })).toThrow(`train: activation 'gelu' (config) conflicts with --init ${init}, whose activation is 'silu'`);
  });

  it('--resume continues exactly: the losses after the break equal the uninterrupted run, bit for bit', async () => {
    // 8 steps an epoch; the run is cut mid-epoch (after step 3) and after an epoch end (step 9), then finishes at 12.
    const cfg = { objective: 'trades', epochs: 2, trainLimit: 160, heldOut: 32, batch: 16 } as const;
    const whole = fresh();
    await train(quick({ ...cfg, maxSteps: 12 }), whole, { device: dev() });
    const cut = fresh();
    await train(quick({ ...cfg, maxSteps: 3 }), cut, { device: dev() });
    await train(quick({ ...cfg, maxSteps: 3 }), cut, { device: dev(), resume: true, stop: { maxSteps: 9 } });
    await train(quick({ ...cfg, maxSteps: 3 }), cut, { device: dev(), resume: true, stop: { maxSteps: 12 } });
    const a = new Map(stepLosses(whole));
    const b = new Map(stepLosses(cut));
    for (let s = 1; s <= 12; s++) expect(b.get(s), `step ${s}`).toBe(a.get(s));
  });

  it('--precision f16-mixed trains like float32 (losses within noise), keeps its loss scale in the checkpoint, and resumes exactly', async () => {
    const cfg = { objective: 'trades', epochs: 2, trainLimit: 160, heldOut: 32, batch: 16 } as const;
    const f32 = fresh();
    await train(quick({ ...cfg, maxSteps: 10 }), f32, { device: dev() });
    const whole = fresh();
    await train(quick({ ...cfg, maxSteps: 10, precision: 'f16-mixed' }), whole, { device: dev() });
    const cut = fresh();
    await train(quick({ ...cfg, maxSteps: 4, precision: 'f16-mixed' }), cut, { device: dev() });
    const ck = readSafetensors(join(cut, 'checkpoints', 'last.safetensors'));
    const run = (JSON.parse(ck.metadata.robustgpu ?? '{}') as { run?: { scaler?: { scale: number } } }).run;
    expect(run?.scaler?.scale, 'the loss scale is saved with the run state').toBe(2 ** 16);
    await train(quick({ ...cfg, maxSteps: 4, precision: 'f16-mixed' }), cut, { device: dev(), resume: true, stop: { maxSteps: 10 } });
    const a = new Map(stepLosses(whole));
    const b = new Map(stepLosses(cut));
    for (let s = 1; s <= 10; s++) expect(b.get(s), `step ${s} after the resume`).toBe(a.get(s));
    const ref = new Map(stepLosses(f32));
    for (let s = 1; s <= 10; s++) {
      expect(a.get(s)!, `step ${s}: f16-mixed loss differs from float32`).not.toBe(ref.get(s));
      expect(Math.abs(a.get(s)! - ref.get(s)!), `step ${s}: f16-mixed ${a.get(s)} vs float32 ${ref.get(s)}`).toBeLessThan(0.02 * ref.get(s)! + 0.01);
    }
  });

  it('f16-mixed from a loss scale that overflows f16: the scaler halves it step after step, those updates are skipped, the run trains on', async () => {
    const dir = fresh();
    const res = await train(quick({ objective: 'standard', precision: 'f16-mixed', lossScale: 2 ** 30, maxSteps: 14, schedule: 'constant' }), dir, { device: dev() });
    expect(res.fit.reason).toBe('max-steps');
    expect(res.fit.health.healthy, 'overflows the scaler handles are not non-finite steps').toBe(true);
    const ck = readSafetensors(join(dir, 'checkpoints', 'last.safetensors'));
    const scale = (JSON.parse(ck.metadata.robustgpu ?? '{}') as { run: { scaler: { scale: number; good: number } } }).run.scaler;
    // dlogits of a batch of 32 reach the f16 range (65504) only below about 2^21: nine halvings or more
    expect(scale.scale).toBeLessThanOrEqual(2 ** 21);
    expect(scale.good, 'finite steps since the last overflow').toBeGreaterThan(0);
    for (const [name, t] of ck.tensors) if (t.dtype === 'F32') expect(Array.from(t.data).every(Number.isFinite), name).toBe(true);
    const losses = stepLosses(dir).map(([, l]) => l);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!, 'the loss falls once updates happen').toBeLessThan(losses[0]!);
  });

  it('a run exploding (lr 1e30) stops naming the step; no NaN reaches the weights; a stop record is written', async () => {
    const dir = fresh();
    const res = await train(quick({ objective: 'standard', lr: 1e30, momentum: 0, schedule: 'constant', epochs: 2 }), dir, { device: dev() });
    expect(res.fit.reason).toBe('non-finite');
    expect(res.fit.message).toMatch(/training stopped: step \d+ \(epoch 0, batch \d+ of the epoch\) was not finite in its (loss|gradients)/);
    const stop = lines(dir).at(-1)!;
    expect(stop).toMatchObject({ type: 'stop', reason: 'non-finite' });
    expect(existsSync(join(dir, 'checkpoints', 'last.safetensors')), 'nothing was saved after the bad step').toBe(false);
  });

  it("onNonFinite 'skip': the exploding run goes on, skipping and counting its bad steps, and saves finite weights", async () => {
    const dir = fresh();
    const res = await train(quick({ objective: 'standard', lr: 1e30, momentum: 0, schedule: 'constant', maxSteps: 8, onNonFinite: 'skip' }), dir, { device: dev() });
    expect(res.fit.reason).toBe('max-steps');
    const skipped = Math.max(...lines(dir).filter((l) => l.type === 'step').map((l) => l.skipped as number));
    expect(skipped, 'lr 1e30 makes the weights huge after one step, then every loss inf').toBeGreaterThan(0);
    const saved = readSafetensors(join(dir, 'checkpoints', 'last.safetensors')).tensors;
    for (const [name, t] of saved) if (t.dtype === 'F32') expect((t.data as Float32Array).every(Number.isFinite), name).toBe(true);
  });

  it('refuses a second run in the same directory, a resume without a checkpoint, an unknown config key and a bad value', async () => {
    const dir = fresh();
    await expect(train(quick(), dir, { device: dev(), resume: true })).rejects.toThrow(/has no checkpoints\/last\.safetensors to resume from/);
    expect(() => trainConfig({ epocs: 3 } as never)).toThrow(/train config: key 'epocs': unknown key/);
    expect(() => trainConfig({ attackSteps: 2.5 })).toThrow(/key 'attackSteps' expects an integer >= 1, got 2\.5/);
    expect(() => trainConfig({ objective: 'madry' })).toThrow(/key 'objective' expects one of standard, pgd-at, trades, w-trades, got 'madry'/);
  });

  it('memory stays flat: live tensors and buffers created are the same at each step of every epoch after the first', async () => {
    const dir = fresh();
    const seen: number[][] = [];
    await train(quick({ objective: 'pgd-at', epochs: 3, trainLimit: 160, heldOut: 32, batch: 16 }), dir, {
      device: dev(), onLog: (m) => { const s = dev().stats(); seen.push([m.epoch, s.liveTensors, s.buffersCreated]); },
    });
    const epoch = (e: number) => seen.filter(([ep]) => ep === e).map(([, live]) => live);
    expect(epoch(2), JSON.stringify(seen)).toEqual(epoch(1));
    const created = seen.filter(([ep]) => ep === 2).map(([, , c]) => c);
    expect(created[created.length - 1]! - created[0]!, 'no buffer created per step once warm').toBe(0);
  });
});
