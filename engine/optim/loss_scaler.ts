/**
 * Dynamic loss scaling for mixed precision (engine/precision.ts), as PyTorch's GradScaler, kept on the GPU:
 * the loss is multiplied by `scale` before the backward so that small gradients survive their f16 casts,
 * the gradients are divided by it again before the update, and an update whose unscaled gradient norm is
 * not finite (an f16 overflow) is skipped through the optimizer's gate while the scale is halved; after
 * `growthInterval` finite steps in a row it doubles. Nothing is read back per step: the scale and the run of
 * good steps are two one-element tensors that a checkpoint reads (state()) with the rest.
 */
import { full, tensor } from '../create.js';
import { keep, scope } from '../scope.js';
import { noGrad } from '../tape.js';
import * as o from '../ops/index.js';
import type { Device } from '../device.js';
import type { Tensor } from '../tensor.js';

export interface LossScalerOptions {
  /** Default 2^16 (PyTorch's). */
  initScale?: number;
  /** Default 2. */
  growthFactor?: number;
  /** Default 0.5. */
  backoffFactor?: number;
  /** Finite steps in a row before the scale grows (default 2000). */
  growthInterval?: number;
  /**
   * Below this scale an overflow is no longer taken for one (default 2^-14): the gradients are non-finite
   * whatever the scale, and the step goes to the training health check (which stops or skips it).
   */
  minScale?: number;
}

export interface LossScalerState { scale: number; good: number }

const F32_MAX = 3.4028234663852886e38;

function positive(name: string, v: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(`LossScaler: ${name} must be a positive ${integer ? 'integer' : 'finite number'}, got ${String(v)}`);
  }
  return v;
}

export class LossScaler {
  private scaleT: Tensor;
  private goodT: Tensor;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  readonly minScale: number;

  constructor(readonly device: Device, opts: LossScalerOptions = {}) {
    const init = positive('initScale', opts.initScale ?? 2 ** 16);
    this.growthFactor = positive('growthFactor', opts.growthFactor ?? 2);
    this.backoffFactor = positive('backoffFactor', opts.backoffFactor ?? 0.5);
    if (this.growthFactor <= 1) throw new RangeError(`LossScaler: growthFactor must be above 1, got ${this.growthFactor}`);
    if (this.backoffFactor >= 1) throw new RangeError(`LossScaler: backoffFactor must be below 1, got ${this.backoffFactor}`);
    this.growthInterval = positive('growthInterval', opts.growthInterval ?? 2000, true);
    this.minScale = positive('minScale', opts.minScale ?? 2 ** -14);
    this.scaleT = keep(full([1], init, { device }));
    this.goodT = keep(full([1], 0, { device }));
  }

  /** The scale (a float32 [1] tensor on the GPU). */
  get scale(): Tensor {
    return this.scaleT;
  }

  /** loss * scale: what the backward starts from. */
  scaleLoss(loss: Tensor): Tensor {
    return o.mul(loss, this.scaleT);
  }

  /** Divides every parameter's gradient by the scale, in place of the scaled one. */
  unscale(params: readonly Tensor[]): void {
    noGrad(() => {
      const inv = scope(() => o.reciprocal(this.scaleT));
      for (const p of params) {
        if (!p.grad) continue;
        const g = keep(o.mul(p.grad, inv));
        p.grad.dispose();
        p.grad = g;
      }
      inv.dispose();
    });
  }

  /**
   * After unscale(): judges the step by its unscaled gradient norm and moves the scale. Returns `ok` (float32
   * [1], 1 where the update may happen; multiply it into the optimizer's gate) and `healthNorm`: the norm,
   * or 0 for an overflow that the scaler handles (so the health check does not stop the run for it).
   */
  update(norm: Tensor): { ok: Tensor; healthNorm: Tensor } {
    const r = noGrad(() => scope(() => {
      const ok = o.inRange(norm, -F32_MAX, F32_MAX);
      const good = o.mul(o.add(this.goodT, 1), ok);
      const grow = o.ge(good, this.growthInterval);
      const factor = o.where(ok, o.where(grow, this.growthFactor, 1), this.backoffFactor);
      // an overflow at a scale this small is not one: the gradients are non-finite whatever the scale
      const handled = o.mul(o.sub(1, ok), o.gt(this.scaleT, this.minScale));
      return { ok, healthNorm: o.where(handled, 0, norm), scale: o.mul(this.scaleT, factor), good: o.mul(good, o.sub(1, grow)) };
    }));
    this.replace(r.scale, r.good);
    return { ok: r.ok, healthNorm: r.healthNorm };
  }

  private replace(scale: Tensor, good: Tensor): void {
    this.scaleT.dispose();
    this.goodT.dispose();
    this.scaleT = keep(scale);
    this.goodT = keep(good);
  }

  /** The scale and the run of good steps (one small readback: for checkpoints). */
  async state(): Promise<LossScalerState> {
    const [scale, good] = [await this.scaleT.read(), await this.goodT.read()];
    return { scale: scale[0]!, good: good[0]! };
  }

  loadState(s: LossScalerState): void {
    positive('state.scale', s.scale);
    if (!Number.isInteger(s.good) || s.good < 0) throw new RangeError(`LossScaler: state.good must be an integer >= 0, got ${String(s.good)}`);
    this.replace(tensor([s.scale], [1], { device: this.device }), tensor([s.good], [1], { device: this.device }));
  }

  dispose(): void {
    this.scaleT.dispose();
    this.goodT.dispose();
  }
}
