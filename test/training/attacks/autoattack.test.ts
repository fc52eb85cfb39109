/**
 * AutoAttack: the attacks run in order on the still-robust examples only (one count readback per attack), the
 * robust accuracy never rises from one attack to the next, every returned point is checked by a fresh forward
 * and lies in the ball and [0, 1], and AutoAttack's own checks become warnings.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { Generator, randn } from '../../../engine/rng.js';
import * as o from '../../../engine/ops/index.js';
import type { Tensor } from '../../../engine/tensor.js';
import { Module } from '../../../nn/module.js';
import type { Sequential } from '../../../nn/layers/index.js';
import { autoAttack } from '../../../training/attacks/autoattack.js';
import { apgd } from '../../../training/attacks/apgd.js';
import { budgetExcess, budgetReport } from '../../../training/attacks/threat.js';
import { fashion, trainedMlp } from './models.js';

const dev = useDevice();

/** Wraps a model: softmax outputs (probabilities), or noise added to every forward (a randomised defence). */
class Wrapped extends Module {
  constructor(readonly inner: Module, readonly kind: 'softmax' | 'noise' | 'masked') {
    super();
    this.registerModule('inner', inner);
  }
  forward(x: Tensor): Tensor {
    // masked: the values follow x, the input gradient is zero (gradient masking, as a shattered-gradient defence)
    if (this.kind === 'masked') return this.inner.forward(o.add(x.detach(), o.mul(x, 0)));
    const z = this.inner.forward(x);
    return this.kind === 'softmax' ? o.softmax(z, 1) : o.add(z, o.mul(randn(z.shape, { device: z.device, generator: new Generator(Math.floor(Math.random() * 1e6)) }), 0.5));
  }
}

describe('AutoAttack', () => {
  let model: Sequential;
  let data: ReturnType<typeof fashion>;
  beforeAll(async () => {
    model = await trainedMlp();
    data = fashion('test', 48);
  });

  it("'standard' runs APGD-CE, APGD-T, FAB-T, Square on the survivors; accuracy only falls; points in budget", async () => {
    const eps = 0.03;
    const rep = await autoAttack(model, data.x, data.y, { norm: 'linf', eps, steps: 10, queries: 50, targetClasses: 3, batchSize: 32, generator: new Generator(1) });
    expect(rep.attacks).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    const accs = [rep.cleanAccuracy, ...rep.rows.map((r) => r.robustAccuracy)];
    for (let i = 1; i < accs.length; i++) expect(accs[i]!).toBeLessThanOrEqual(accs[i - 1]!);
    expect(rep.robustAccuracy).toBe(rep.rows[rep.rows.length - 1]!.robustAccuracy);
    expect(rep.robust.reduce((s, v) => s + v, 0) / 48).toBeCloseTo(rep.robustAccuracy, 10);
    expect(budgetReport(await budgetExcess(data.x, rep.xAdv, 'linf', eps).read(), eps).ok).toBe(true);
    // APGD-CE alone is never stronger than the composition that starts with it.
    const alone = apgd(model, data.x, data.y, { norm: 'linf', eps, steps: 10, generator: new Generator(1) });
    expect(rep.robustAccuracy).toBeLessThanOrEqual(1 - Array.from(await alone.fooled.read()).reduce((s, v) => s + v, 0) / 48 + 1e-9);
    expect(rep.robustAccuracy, 'not vacuous').toBeLessThan(rep.cleanAccuracy);
    rep.xAdv.dispose();
  });

  it('the survivors of an attack are compacted: the next attack sees only them; nothing leaks', async () => {
    const before = dev().stats().liveTensors;
    const seen: number[] = [];
    const rep = await autoAttack(model, data.x, data.y, {
      norm: 'linf', eps: 0.05, attacks: ['apgd-ce', 'apgd-dlr'], steps: 5, batchSize: 16, generator: new Generator(2),
      onProgress: (a, done, total) => { if (done === total) seen.push(total); },
    });
    expect(seen[0]).toBe(Math.round(rep.cleanAccuracy * 48));
    if (seen.length > 1) expect(seen[1]).toBe(Math.round(rep.rows[0]!.robustAccuracy * 48));
    rep.xAdv.dispose();
    expect(dev().stats().liveTensors).toBe(before);
  });

  it('warns about probabilities instead of logits, and about a randomised model', async () => {
    const probs = await autoAttack(new Wrapped(model, 'softmax'), data.x, data.y, { norm: 'linf', eps: 0.01, attacks: ['apgd-ce'], steps: 2, generator: new Generator(3) });
    expect(probs.warnings.join('\n')).toMatch(/outputs probabilities/);
    probs.xAdv.dispose();
    const noisy = await autoAttack(new Wrapped(model, 'noise'), data.x, data.y, { norm: 'linf', eps: 0.01, attacks: ['apgd-ce'], steps: 2, generator: new Generator(3) });
    expect(noisy.warnings.join('\n')).toMatch(/randomised/);
    noisy.xAdv.dispose();
  });

  it("L2 'standard' and 'plus' run their attacks in order with falling accuracy, inside the L2 ball", async () => {
    for (const version of ['standard', 'plus'] as const) {
      const eps = 1;
      const rep = await autoAttack(model, data.x, data.y, { norm: 'l2', eps, version, steps: 5, queries: 30, targetClasses: 2, batchSize: 48, generator: new Generator(6) });
      expect(rep.attacks).toEqual(version === 'standard' ? ['apgd-ce', 'apgd-t', 'fab-t', 'square'] : ['apgd-ce', 'apgd-dlr', 'fab', 'square', 'apgd-t', 'fab-t']);
      const accs = [rep.cleanAccuracy, ...rep.rows.map((r) => r.robustAccuracy)];
      for (let i = 1; i < accs.length; i++) expect(accs[i]!, `${version}: ${rep.rows[i - 1]!.attack}`).toBeLessThanOrEqual(accs[i - 1]!);
      expect(rep.robustAccuracy, `${version}: not vacuous`).toBeLessThan(rep.cleanAccuracy);
      expect(budgetReport(await budgetExcess(data.x, rep.xAdv, 'l2', eps).read(), eps).ok, version).toBe(true);
      rep.xAdv.dispose();
    }
  });

  it('warns about zero input gradients, and when Square (black-box) beats the white-box attacks', async () => {
    const rep = await autoAttack(new Wrapped(model, 'masked'), data.x, data.y, { norm: 'linf', eps: 0.1, steps: 5, queries: 200, targetClasses: 2, batchSize: 48, generator: new Generator(7) });
    const w = rep.warnings.join('\n');
    expect(w).toContain('48 of 48 examples have an all-zero input gradient');
    const sq = rep.rows.findIndex((r) => r.attack === 'square');
    expect(rep.rows[sq]!.robustAccuracy, 'Square finds what the gradients cannot').toBeLessThan(rep.rows[sq - 1]!.robustAccuracy);
    expect(w).toMatch(/Square \(black-box\) lowered the robust accuracy after the white-box attacks .*gradient masking/);
    rep.xAdv.dispose();
  });

  it('refuses unknown attacks and versions, naming them', async () => {
    await expect(autoAttack(model, data.x, data.y, { norm: 'linf', eps: 0.1, attacks: ['apgd-xx' as never], generator: new Generator(0) })).rejects.toThrow(/unknown attack "apgd-xx"/);
    await expect(autoAttack(model, data.x, data.y, { norm: 'linf', eps: 0.1, version: 'extreme' as never, generator: new Generator(0) })).rejects.toThrow(/version must be 'standard' or 'plus'/);
  });
});
