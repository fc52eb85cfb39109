import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { Generator } from '../../engine/rng.js';
import { buildModel } from '../../nn/models/index.js';
import { saveCheckpoint } from '../../nn/checkpoint.js';
import { BenchContext } from '../../bench/context.js';
import { attackConfig, attackRowNames, attackSuite, autoAttackRowName, convnet16, type AttackBenchConfig } from '../../bench/attacks.js';

const dev = useDevice();

/** A few iterations of each attack at batch 4; AutoAttack on 8 images with 2 iterations and 5 queries. */
const TINY: AttackBenchConfig = {
  models: [convnet16(4)], pgdSteps: 2, apgdSteps: 3, squareQueries: 3,
  autoAttack: { n: 8, steps: 2, queries: 5, batch: 8 },
};

const saved = process.env.ROBUSTGPU_FASHION_MNIST;
afterEach(() => {
  if (saved === undefined) delete process.env.ROBUSTGPU_FASHION_MNIST;
  else process.env.ROBUSTGPU_FASHION_MNIST = saved;
});

describe('attack suite', () => {
  it('times PGD, APGD-CE and Square as image-iterations per second, and leaves no tensor behind', async () => {
    const live = dev().stats().liveTensors;
    // The AutoAttack row is filtered out here (the next test runs it).
    const ctx = new BenchContext(dev(), true, 1, ['b4 '], null, true);
    await attackSuite(ctx, TINY);
    expect(ctx.skipped).toEqual([]);
    expect(ctx.rows.map((r) => r.name)).toEqual(['convnet-16 b4 pgd-2', 'convnet-16 b4 apgd-ce-3', 'convnet-16 b4 square-3']);
    const iters = [2, 3, 3];
    ctx.rows.forEach((r, i) => {
      expect(r.suite).toBe('attack');
      expect(Number.isFinite(r.medianMs) && r.medianMs > 0, `${r.name}: ${r.medianMs} ms`).toBe(true);
      expect(r.imagesPerSec, r.name).toBeCloseTo((4 * iters[i]!) / (r.medianMs / 1e3), 6);
      expect(r.imagesPerSec! > 0 && Number.isFinite(r.imagesPerSec!), r.name).toBe(true);
      expect(Number.isFinite(r.gflops!) && r.gflops! > 0, r.name).toBe(true);
      expect(r.shape).toMatch(/img\/s = images x (iterations|queries) \/ s/);
      expect(r.dispatches, r.name).toBeGreaterThan(0);
      // A readback would flush the recorder: one submission per repetition means nothing was read inside the attack.
      expect(r.submissions, r.name).toBe(1);
    });
    // Nothing read back inside the attacks: one submission per repetition at most besides the closing flush.
    expect(dev().stats().liveTensors).toBe(live);
  });

  it('times the whole AutoAttack evaluation on Fashion-MNIST, or skips it with a note when the data is absent', async () => {
    const live = dev().stats().liveTensors;
    const name = autoAttackRowName(TINY);
    expect(name).toBe('convnet-16 autoattack n8 it2 q5');
    const ctx = new BenchContext(dev(), true, 1, ['autoattack'], null, true);
    await attackSuite(ctx, TINY);
    if (ctx.skipped.length) {
      expect(ctx.skipped[0]!.reason).toMatch(/Fashion-MNIST not found/);
    } else {
      expect(ctx.rows.map((r) => r.name)).toEqual([name]);
      const r = ctx.rows[0]!;
      expect(r.medianMs).toBeGreaterThan(0);
      expect(r.imagesPerSec).toBeCloseTo(8 / (r.medianMs / 1e3), 6);
      expect(r.notes).toMatch(/robust accuracy \d+\.\d%/);
    }
    expect(dev().stats().liveTensors).toBe(live);

    // --aa-checkpoint: the row evaluates that model instead.
    const dir = mkdtempSync(join(tmpdir(), 'attack-bench-'));
    try {
      const path = join(dir, 'convnet.safetensors');
      const model = buildModel('convnet-16', { device: dev(), generator: new Generator(5) });
      await saveCheckpoint(path, model, { meta: { architecture: 'convnet-16' } });
      model.dispose();
      const withCkpt = new BenchContext(dev(), true, 1, ['autoattack'], null, true);
      await attackSuite(withCkpt, { ...TINY, autoAttack: { ...TINY.autoAttack, checkpoint: path } });
      if (!ctx.skipped.length) expect(withCkpt.rows[0]!.notes).toContain(`checkpoint ${path}`);
      expect(dev().stats().liveTensors).toBe(live);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    process.env.ROBUSTGPU_FASHION_MNIST = '/nonexistent/fashion-mnist';
    const none = new BenchContext(dev(), true, 1, ['autoattack'], null, true);
    await attackSuite(none, TINY);
    expect(none.rows).toEqual([]);
    expect(none.skipped).toEqual([{ suite: 'attack', name, reason: expect.stringMatching(/^Fashion-MNIST not found/) }]);
  });

  it('quick and full configurations name their rows as the PyTorch script does', () => {
    const quick = attackConfig(true);
    expect(quick.models.flatMap((m) => Object.values(attackRowNames(m, quick)))).toEqual([
      'convnet-16 b32 pgd-10', 'convnet-16 b32 apgd-ce-20', 'convnet-16 b32 square-50',
      'preact_resnet18 w16 b8 pgd-10', 'preact_resnet18 w16 b8 apgd-ce-20', 'preact_resnet18 w16 b8 square-50',
    ]);
    expect(autoAttackRowName(quick)).toBe('convnet-16 autoattack n32 it10 q100');
    const full = attackConfig(false);
    expect(full.models.flatMap((m) => Object.values(attackRowNames(m, full)))).toEqual([
      'convnet-16 b128 pgd-20', 'convnet-16 b128 apgd-ce-100', 'convnet-16 b128 square-100',
      'preact_resnet18 b128 pgd-20', 'preact_resnet18 b128 apgd-ce-100', 'preact_resnet18 b128 square-100',
    ]);
    expect(autoAttackRowName(full)).toBe('convnet-16 autoattack n1000');
  });
});
