/** fab_step: the audit (GPU against the float64 reference), the other thread layout, and refused shapes. */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { empty, tensor } from '../../../engine/create.js';
import { fabStep } from '../../../engine/ops/index.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import { runFabStep } from '../../../kernels/fab.js';

const dev = useDevice();

describe('fab_step', () => {
  it('passes the audit against its float64 reference', async () => {
    const [row] = await runAudit(dev(), { ops: ['fab_step'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.cases).toBe(8);
  });

  it('the other thread layout (a team of 64 per example on a GPU, one thread on a CPU adapter) gives the same step', async () => {
    const rng = new CpuRandom(2);
    const [n, f] = [3, 700];
    const img = () => tensor(Array.from({ length: n * f }, () => rng.next()), [n, f]);
    const [x1, x0] = [img(), img()];
    const d = tensor(Array.from({ length: 2 * n * f }, () => rng.normal() * 0.05), [2 * n, f]);
    for (const norm of ['linf', 'l2'] as const) {
      const want = fabStep(x1, x0, d, { norm, eta: 1.05, alphaMax: 0.1 });
      const [moved, dist] = [empty(dev(), [n, f]), empty(dev(), [n])];
      runFabStep(dev(), { x1: x1.storage.binding(), x0: x0.storage.binding(), d: d.storage.binding(), moved: moved.storage.binding(), dist: dist.storage.binding() }, n, f, 1.05, 0.1, norm, !dev().info.fallback);
      expectClose(await moved.read(), await want.moved.read(), 1e-6, 1e-5, `${norm} moved`);
      expectClose(await dist.read(), await want.dist.read(), 1e-6, 1e-5, `${norm} dist`);
    }
  });

  it('refuses mismatched shapes, naming them', () => {
    const x = tensor(new Float32Array(6), [2, 3]);
    expect(() => fabStep(x, tensor(new Float32Array(6), [3, 2]), tensor(new Float32Array(12), [4, 3]), { norm: 'l2', eta: 1, alphaMax: 0.1 })).toThrow(/x0 has shape \[3, 2\], expected x1's \[2, 3\]/);
    expect(() => fabStep(x, x, tensor(new Float32Array(6), [2, 3]), { norm: 'l2', eta: 1, alphaMax: 0.1 })).toThrow(/d must be \[4, 3\].*got \[2, 3\]/);
    expect(() => fabStep(x, x, tensor(new Float32Array(12), [4, 3]), { norm: 'l2', eta: 1, alphaMax: 2 })).toThrow(/alphaMax must be in \[0, 1\], got 2/);
  });
});
