/**
 * Float64 reimplementations of PyTorch's optimizer updates (torch/optim/sgd.py, adam.py, adamw.py, 1.13,
 * single-tensor path), written from the documented formulas with plain loops and independent of the
 * kernels, for the optimizer tests to compare against. One "param" is a flat array.
 */
import { tensor } from '../../../engine/create.js';
import type { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers.js';

export interface RefSgd { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean }

export class RefSGD {
  private buf: (number[] | null)[];
  constructor(readonly params: number[][], readonly h: RefSgd) {
    this.buf = params.map(() => null);
  }

  /** grads[i] null: parameter i has no gradient this step and is skipped. */
  step(grads: (number[] | null)[]): void {
    const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = this.h;
    this.params.forEach((p, i) => {
      const g = grads[i];
      if (!g) return;
      let d = g.map((v, k) => v + weightDecay * p[k]!);
      if (momentum !== 0) {
        const prev = this.buf[i];
        const b = prev ? prev.map((v, k) => momentum * v + (1 - dampening) * d[k]!) : [...d];
        this.buf[i] = b;
        d = nesterov ? d.map((v, k) => v + momentum * b[k]!) : b;
      }
      for (let k = 0; k < p.length; k++) p[k] = p[k]! - lr * d[k]!;
    });
  }
}

export interface RefAdamOptions { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number; amsgrad?: boolean; decoupled?: boolean }

export class RefAdam {
  private m: number[][];
  private v: number[][];
  private vmax: number[][];
  private t: number[];
  constructor(readonly params: number[][], readonly h: RefAdamOptions) {
    this.m = params.map((p) => p.map(() => 0));
    this.v = params.map((p) => p.map(() => 0));
    this.vmax = params.map((p) => p.map(() => 0));
    this.t = params.map(() => 0);
  }

  step(grads: (number[] | null)[]): void {
    const { lr = 1e-3, betas: [b1, b2] = [0.9, 0.999], eps = 1e-8, weightDecay = 0, amsgrad = false, decoupled = false } = this.h;
    this.params.forEach((p, i) => {
      const g0 = grads[i];
      if (!g0) return;
      const t = ++this.t[i]!;
      if (decoupled) for (let k = 0; k < p.length; k++) p[k] = p[k]! * (1 - lr * weightDecay);
      const g = decoupled ? g0 : g0.map((v, k) => v + weightDecay * p[k]!);
      const m = this.m[i]!;
      const v = this.v[i]!;
      const vmax = this.vmax[i]!;
      for (let k = 0; k < p.length; k++) {
        m[k] = b1 * m[k]! + (1 - b1) * g[k]!;
        v[k] = b2 * v[k]! + (1 - b2) * g[k]! * g[k]!;
        vmax[k] = Math.max(vmax[k]!, v[k]!);
        const mHat = m[k]! / (1 - b1 ** t);
        const vHat = (amsgrad ? vmax[k]! : v[k]!) / (1 - b2 ** t);
        p[k] = p[k]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    });
  }
}

/** Sets each parameter's .grad (null leaves it without one), disposing the previous gradient. */
export function setGrads(params: Tensor[], grads: (number[] | null)[]): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = grads[i] ? tensor(grads[i]!, p.shape) : null;
  });
}

export async function expectParams(params: Tensor[], want: number[][], what: string): Promise<void> {
  for (const [i, p] of params.entries()) expectClose(await p.read(), want[i]!, 1e-6, 1e-5, `${what}: param ${i}`);
}
