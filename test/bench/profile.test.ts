/**
 * The per-kernel profile of a training step (bench/profile.ts, `robustgpu profile`): every dispatch of the
 * step is counted once under its kernel, the shares add up to the whole, and the command refuses bad flags.
 */
import { describe, expect, it, vi } from 'vitest';
import { useDevice } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import { Generator, rand } from '../../engine/rng.js';
import { scope } from '../../engine/scope.js';
import { SGD } from '../../engine/optim/index.js';
import { SmallCNN } from '../../nn/models/index.js';
import { profileKernels } from '../../bench/profile.js';
import { formatProfile, profileCommand } from '../../bench/profile_cli.js';
import { stepRecorders } from '../../bench/steps.js';
import { UsageError } from '../../cli/args.js';

const dev = useDevice();

describe('profile', () => {
  it('attributes every dispatch of a SmallCNN step to its kernel, and the shares sum to 1', async () => {
    const d = dev();
    const model = new SmallCNN({ device: d, generator: new Generator(1) });
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = rand([4, 1, 28, 28], { generator: new Generator(2) });
    const y = tensor(Int32Array.of(0, 1, 2, 3), [4]);
    const step = stepRecorders(model, opt, { x, y }, true).standard;
    const prof = await profileKernels(d, step, 2);
    const s0 = d.stats();
    scope(() => { step(); });
    await d.sync();
    const perStep = d.stats().dispatches - s0.dispatches;
    expect(prof.kernels.reduce((a, k) => a + k.dispatches, 0)).toBe(perStep);
    expect(prof.kernels.map((k) => k.kernel)).toEqual(expect.arrayContaining(['conv2d_fwd', 'conv2d_dw_taps', 'sgd', 'pool_max']));
    expect(prof.kernels.reduce((a, k) => a + k.share, 0)).toBeCloseTo(1, 9);
    expect(prof.gpuMs).toBeGreaterThan(0);
    for (let i = 1; i < prof.kernels.length; i++) expect(prof.kernels[i]!.ms).toBeLessThanOrEqual(prof.kernels[i - 1]!.ms);
    expect(formatProfile(prof).split('\n').length).toBe(prof.kernels.length + 4);
    opt.dispose();
    model.dispose();
  });

  it("the bench's f16-mixed step runs the f16-operand kernels and the casts in place of the float32 convolutions", async () => {
    const d = dev();
    const model = new SmallCNN({ device: d, generator: new Generator(1) });
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = rand([4, 1, 28, 28], { generator: new Generator(2) });
    const y = tensor(Int32Array.of(0, 1, 2, 3), [4]);
    const prof = await profileKernels(d, stepRecorders(model, opt, { x, y }, true)['standard f16-mixed'], 1);
    const names = prof.kernels.map((k) => k.kernel);
    expect(names).toEqual(expect.arrayContaining(['conv2d_fwd_f16', 'conv2d_dw_taps_f16', 'cast_f16', 'matmul_f16', 'sgd']));
    expect(names.filter((n) => n.startsWith('conv2d_') && !n.endsWith('_f16') && n !== 'conv2d_dw_reduce')).toEqual([]);
    for (const t of [x, y]) t.dispose();
    opt.dispose();
    model.dispose();
  });

  it('the command refuses an unknown step and a bad batch, naming them', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await expect(profileCommand(['smallcnn', '--step', 'sprint'])).rejects.toThrow(UsageError);
      await expect(profileCommand(['smallcnn', '--step', 'sprint'])).rejects.toThrow(/--step expects one of standard, pgd-10, pgd-at-10, trades-10, got 'sprint'/);
      await expect(profileCommand(['smallcnn', '--batch', '0'])).rejects.toThrow(/--batch expects a positive integer, got '0'/);
      await expect(profileCommand([])).rejects.toThrow(/expected one model name/);
    } finally {
      log.mockRestore();
    }
  });
});
