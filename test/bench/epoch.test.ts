import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { BenchContext } from '../../bench/context.js';
import { epochJobs, epochSuite, type EpochJob } from '../../bench/epoch.js';
import { trainConfig } from '../../training/run.js';

const dev = useDevice();

/** Four steps of batch 8 through a width-4 PreAct-18, one TRADES step each, 16 test images. */
const TINY: EpochJob = {
  name: 'tiny',
  config: { model: 'preact_resnet18-4', dataset: 'synthetic', objective: 'trades', attackSteps: 1, epochs: 1, batch: 8, trainLimit: 40, heldOut: 8, evalN: 8, finalN: 16, finalPgdSteps: 2, eps: 8 / 255 },
};

const leftovers = () => readdirSync(tmpdir()).filter((f) => f.startsWith('robustgpu-epoch-')).sort();

describe('epoch suite', () => {
  it('times a whole training job once: a row with its images, phases and accuracies, nothing left behind', async () => {
    const before = leftovers();
    const ctx = new BenchContext(dev(), true, 1, null, null, false);
    const live = dev().stats().liveTensors;
    await epochSuite(ctx, [TINY]);
    expect(ctx.skipped).toEqual([]);
    expect(ctx.rows.length).toBe(1);
    const r = ctx.rows[0]!;
    expect(r.suite).toBe('epoch');
    expect(r.clock).toBe('wall');
    expect(r.reps).toBe(1);
    // 40 images minus 8 held out: 4 steps of 8.
    expect(r.shape).toMatch(/1 epoch of 32 images \(4 steps\), held-out 8 \(PGD-10\), test 16 \(clean, PGD-2, sanity checks\)/);
    expect(r.imagesPerSec).toBeCloseTo(32 / (r.medianMs / 1e3), 9);
    expect(r.dispatches).toBeGreaterThan(0);
    expect(r.notes).toMatch(/^training \d+\.\d s \(\d+\.\d img\/s\), final evaluation \d+\.\d s, the rest .* \d+\.\d s; test clean \d+\.\d\d%, PGD-2 \d+\.\d\d%$/);
    expect(dev().stats().liveTensors).toBe(live);
    expect(leftovers()).toEqual(before);
  });

  it('reports a job that ends before its epoch is over as skipped, naming why', async () => {
    const ctx = new BenchContext(dev(), true, 1, null, null, false);
    await epochSuite(ctx, [{ ...TINY, name: 'cut', config: { ...TINY.config, maxSteps: 1 } }]);
    expect(ctx.rows).toEqual([]);
    expect(ctx.skipped).toEqual([{ suite: 'epoch', name: 'cut', reason: expect.stringMatching(/^epoch cut: the run stopped before the end of its epoch \(max-steps/) }]);
  });

  it('runs only the jobs the filter selects', async () => {
    const ctx = new BenchContext(dev(), true, 1, ['epoch nothing-matches'], null, false);
    await epochSuite(ctx, [TINY]);
    expect(ctx.rows).toEqual([]);
    expect(ctx.skipped).toEqual([]);
  });

  it("has the same jobs as its PyTorch twin (bench/torch/torch_epoch.py's JOBS)", () => {
    let text: string;
    try {
      // The literal alone (no torch import), so this runs wherever a python3 does.
      text = execFileSync('python3', ['-c', [
        'import ast, json, sys',
        "src = open('bench/torch/torch_epoch.py').read()",
        "node = next(n for n in ast.parse(src).body if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '') == 'JOBS')",
        'print(json.dumps(eval(compile(ast.Expression(node.value), "JOBS", "eval"))))',
      ].join('\n')], { encoding: 'utf8' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // no python3 on this machine
      throw e;
    }
    type PyJob = { name: string; model: string; activation: string; dataset: string; batch: number; eps: number; train_limit: number | null; held_out: number; eval_n: number; final_n: number | null };
    const py = JSON.parse(text) as Record<'quick' | 'full', PyJob[]>;
    for (const mode of ['quick', 'full'] as const) {
      const ours = epochJobs(mode === 'quick').map((j) => {
        const c = trainConfig(j.config).config;
        // The twin writes these out; they must stay what it hard-codes.
        expect([c.objective, c.attackSteps, c.beta, c.epochs, c.lr, c.momentum, c.weightDecay, c.schedule, c.evalPgdSteps, c.finalPgdSteps], j.name)
          .toEqual(['trades', 5, 6, 1, 0.05, 0.9, 5e-4, 'cosine', 10, 20]);
        return {
          name: j.name, model: c.model, activation: c.activation, dataset: c.dataset, batch: c.batch, eps: c.eps,
          train_limit: c.trainLimit ?? null, held_out: c.heldOut, eval_n: c.evalN, final_n: c.finalN ?? null,
        };
      });
      expect(py[mode], mode).toEqual(ours);
    }
  });
});
