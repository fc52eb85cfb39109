/**
 * W-TRADES: a reconstruction of Bai et al. 2025 (METHODS §5.3, §5.6; their paper's exact method is not
 * public, so this is labelled a reconstruction everywhere it is reported). A fine-tuning objective: start
 * from a trained model (`train --init`). The default recipe is the one that beat a same-epochs TRADES
 * control in our numpy runs (§5.6): per batch, the pointwise TRADES point x_pt and a W_2 point x_W
 * (delta = eps, (W_2, l_inf) threat): from x + 0.001 N(0, I), K steps of x' += alpha sign(G_i) ||G_i||_1 / U,
 * G_i the input gradient of the label's ReDLR, U the batch's Upsilon sqrt(mean_i ||G_i||_1^2); after each step
 * every image's l_inf radius is capped at cap * eps, the batch shrunk onto its W_2 ball (RMS of the radii
 * <= delta) and clamped to [0, 1]. Loss: CE(x) + beta KL(p(x) || p(x_pt)) + wWeight CE(x_W).
 * Variants (§5.3): 'kl-w' (CE + beta KL(p(x) || p(x_W)), no pointwise term: variant A), 'hybrid'
 * (CE + beta KL(p(x) || p(x_pt)) + wWeight KL(p(x) || p(x_W))), 'sensitivity' (variant B: x_W one W-FGSM step of
 * size delta from x_pt, CE + beta KL(p(x) || p(x_W))). Upsilon: per batch, or a running average with rate rho.
 * The W budget is per batch in training (a stronger-constrained threat than the global one of evaluation, §10.7).
 */
import * as o from '../../engine/ops/index.js';
import { full } from '../../engine/create.js';
import { randn } from '../../engine/rng.js';
import { keep, scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { tradesAttack } from '../attacks/trades.js';
import { attackLoss, lossAndGrad } from '../attacks/objective.js';
import { batchUpsilon, wStepBatch } from '../attacks/w_step.js';
import { withAttackMode, type AttackBnMode } from '../bn_mode.js';
import type { Objective, StepContext } from './objective.js';

export const W_TRADES_VARIANTS = ['recipe', 'kl-w', 'hybrid', 'sensitivity'] as const;
export type WTradesVariant = (typeof W_TRADES_VARIANTS)[number];
export const W_ATTACK_LOSSES = ['redlr', 'ce', 'kl'] as const;

export interface WTradesOptions {
  eps: number;
  alpha: number;
  steps: number;
  beta: number;
  bnMode?: AttackBnMode;
  variant?: WTradesVariant;
  /** The W_2 budget (default eps). */
  delta?: number;
  /** Every image's l_inf radius is capped at cap * eps (default 3). */
  cap?: number;
  /** Weight of the W term (default 1). */
  wWeight?: number;
  /** What the W point's ascent maximises (default 'redlr'; 'kl' the KL to the clean distribution). */
  wLoss?: (typeof W_ATTACK_LOSSES)[number];
  /** Upsilon per batch (default), or a running average updated at rate `upsilonRate` per step. */
  upsilon?: 'batch' | 'running';
  upsilonRate?: number;
}

export function wTradesObjective(a: WTradesOptions): Objective {
  const variant = a.variant ?? 'recipe';
  if (!W_TRADES_VARIANTS.includes(variant)) throw new RangeError(`w-trades: variant must be one of ${W_TRADES_VARIANTS.join(', ')}, got ${JSON.stringify(variant)}`);
  const delta = a.delta ?? a.eps;
  const cap = (a.cap ?? 3) * a.eps;
  const wWeight = a.wWeight ?? 1;
  const wLoss = a.wLoss ?? 'redlr';
  const schedule = a.upsilon ?? 'batch';
  const rate = a.upsilonRate ?? 0.1;
  for (const [k, v] of [['delta', delta], ['cap', cap], ['wWeight', wWeight], ['beta', a.beta]] as const) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`w-trades: ${k} must be a finite number >= 0, got ${v}`);
  }
  if (!(rate > 0 && rate <= 1)) throw new RangeError(`w-trades: upsilonRate must be in (0, 1], got ${rate}`);
  let running: Tensor | null = null;

  /** The normaliser of this step: the batch's Upsilon, or the running one updated with it. */
  const normaliser = (g: Tensor): Tensor => {
    const u = batchUpsilon(g, 2, 1);
    if (schedule === 'batch') return u;
    const next = noGrad(() => (running ? o.add(o.mul(running, 1 - rate), o.mul(u, rate)) : u.clone()));
    running?.dispose();
    running = keep(next);
    return running;
  };

  /** The W_2 point of a batch (the W-PGD inner loop on one batch), from `from` (default x + 0.001 N(0, I)). */
  const wPoint = (model: Module, x: Tensor, y: Tensor, nat: Tensor, ctx: StepContext, from: Tensor | null, steps: number, alpha: number): Tensor => {
    const lossOf = (z: Tensor) => (wLoss === 'kl' ? o.tradesKl(z, nat, { reduction: 'none' }) : attackLoss(wLoss, z, y));
    let cur = keep(from ? from.clone() : noGrad(() => scope(() => o.clamp(o.add(x, o.mul(randn(x.shape, { device: x.device, generator: ctx.generator }), 0.001)), 0, 1))));
    for (let k = 0; k < steps; k++) {
      const next = scope(() => {
        const { grad } = lossAndGrad(model, cur, lossOf);
        return wStepBatch(x, cur, grad, { q: 2, s: 1, delta, alpha, cap, normaliser: normaliser(grad) });
      });
      cur.dispose();
      cur = keep(next);
    }
    return cur;
  };

  return {
    name: 'w-trades',
    loss: (model, b, ctx) => {
      const attack = { eps: a.eps, alpha: a.alpha, steps: a.steps, bnMode: a.bnMode, generator: ctx.generator };
      const points = ctx.inAttack(() => withAttackMode(model, a.bnMode ?? 'eval', () => {
        const nat = noGrad(() => model.forward(b.x));
        try {
          const pt = variant === 'kl-w' ? null : keep(tradesAttack(model, b.x, attack));
          const w = variant === 'sensitivity'
            ? wPoint(model, b.x, b.y, nat, ctx, pt, 1, delta)
            : wPoint(model, b.x, b.y, nat, ctx, null, a.steps, a.alpha);
          return { pt, w };
        } finally {
          nat.dispose();
        }
      }));
      try {
        return ctx.inUpdate(() => {
          model.train();
          const nat = model.forward(b.x);
          const kl = (adv: Tensor) => o.tradesKl(model.forward(adv), nat, { reduction: 'sum', divideByBatch: true });
          let loss = o.crossEntropy(nat, b.y);
          if (variant === 'recipe') loss = o.add(o.add(loss, o.mul(kl(points.pt!), a.beta)), o.mul(o.crossEntropy(model.forward(points.w), b.y), wWeight));
          else if (variant === 'hybrid') loss = o.add(o.add(loss, o.mul(kl(points.pt!), a.beta)), o.mul(kl(points.w), wWeight));
          else loss = o.add(loss, o.mul(kl(points.w), a.beta));
          return { loss, logits: nat };
        });
      } finally {
        points.pt?.dispose();
        points.w.dispose();
      }
    },
    state: async (): Promise<Record<string, number>> => (running ? { upsilon: await (running as Tensor).item() } : {}),
    loadState: (s) => {
      running?.dispose();
      running = s.upsilon === undefined ? null : keep(full([], s.upsilon));
    },
    settings: () => ({
      reconstruction: 'robustgpu reconstruction of Bai et al. 2025 (METHODS §5.3, §5.6)', variant, eps: a.eps, alpha: a.alpha, steps: a.steps, beta: a.beta,
      delta, cap: a.cap ?? 3, wWeight, wLoss, upsilon: schedule, ...(schedule === 'running' ? { upsilonRate: rate } : {}),
    }),
  };
}
