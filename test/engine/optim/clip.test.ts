/**
 * clipGradNorm against torch.nn.utils.clip_grad_norm_'s definition computed in float64: the global L2 norm
 * over all gradients, and every gradient scaled by min(1, maxNorm / (norm + 1e-6)), on the GPU without a
 * readback.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import type { Tensor } from '../../../engine/tensor.js';
import { clipGradNorm } from '../../../engine/optim/index.js';

const dev = useDevice();

/** Parameters with gradients of several sizes (one large enough to need many partial sums) and one without. */
function setup(seed: number, scale: number) {
  const rng = new CpuRandom(seed);
  const sizes = [[3, 4], [5000], [1], [7, 1, 3]];
  const params: Tensor[] = [];
  const grads: (number[] | null)[] = [];
  sizes.forEach((s, i) => {
    const n = s.reduce((a, b) => a * b, 1);
    const p = tensor(new Array<number>(n).fill(0), s);
    const g = i === 2 ? null : Array.from({ length: n }, () => Math.fround(rng.normal() * scale));
    if (g) p.grad = tensor(g, s);
    params.push(p);
    grads.push(g);
  });
  const norm = Math.sqrt(grads.flatMap((g) => g ?? []).reduce((s, v) => s + v * v, 0));
  return { params, grads, norm };
}

describe('clipGradNorm', () => {
  it('computes the global L2 norm over all gradients and scales them to maxNorm', async () => {
    const { params, grads, norm } = setup(1, 1);
    const maxNorm = 5;
    expect(norm).toBeGreaterThan(50);
    const got = clipGradNorm(params, maxNorm);
    expect(got.shape).toEqual([]);
    expectClose([await got.item()], [norm], 0, 1e-5, 'norm');
    const coef = maxNorm / (norm + 1e-6);
    for (const [i, p] of params.entries()) {
      if (!grads[i]) { expect(p.grad).toBeNull(); continue; }
      expectClose(await p.grad!.read(), grads[i]!.map((v) => v * coef), 1e-7, 1e-5, `grad ${i}`);
    }
    let after = 0;
    for (const p of params) if (p.grad) for (const v of await p.grad.read()) after += v * v;
    expectClose([Math.sqrt(after)], [maxNorm], 0, 1e-5, 'norm after clipping');
  });

  it('leaves gradients whose norm is below maxNorm bit-for-bit unchanged (coefficient 1)', async () => {
    const { params, grads, norm } = setup(2, 0.001);
    const got = await clipGradNorm(params, 10).item();
    expectClose([got], [norm], 0, 1e-5, 'norm');
    for (const [i, p] of params.entries()) if (grads[i]) expect(Array.from(await p.grad!.read()), `grad ${i}`).toEqual(grads[i]);
  });

  it('runs on the GPU without submitting: 2 dispatches per gradient + 1, no readback', () => {
    const { params } = setup(3, 1);
    dev().flush();
    const before = dev().stats();
    clipGradNorm(params, 1);
    const after = dev().stats();
    expect(after.dispatches - before.dispatches).toBe(2 * 3 + 1);
    expect(after.submissions - before.submissions).toBe(0);
  });

  it('returns 0 when no parameter has a gradient, and refuses a bad maxNorm', async () => {
    const p = tensor([1, 2]);
    expect(await clipGradNorm([p], 1).item()).toBe(0);
    expect(() => clipGradNorm([p], NaN)).toThrow(/clipGradNorm: maxNorm must be a number, got NaN/);
  });
});
