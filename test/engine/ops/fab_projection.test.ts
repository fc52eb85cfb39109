/**
 * fab_projection: the audit (GPU against the float64 reference on planes that cut the box with and without
 * saturated coordinates, miss it, or lie on either side), the reference against a brute-force search of the
 * plane inside the box, FAB-sized batches, and refused shapes.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { tensor } from '../../../engine/create.js';
import { fabProjection } from '../../../engine/ops/index.js';
import { refFabProjection } from '../../../engine/ref/fab_projection.js';
import { empty } from '../../../engine/create.js';
import { ref } from '../../../engine/ref/tensor.js';
import { runFabProjection } from '../../../kernels/fab.js';
import { CpuRandom } from '../../../engine/ref/random.js';

const dev = useDevice();
const NORMS = ['linf', 'l2'] as const;
const normOf = (d: ArrayLike<number>, norm: 'linf' | 'l2') => (norm === 'linf' ? Math.max(...Array.from(d, Math.abs)) : Math.hypot(...Array.from(d)));

describe('fab_projection', () => {
  it('passes the audit against its float64 reference', async () => {
    const [row] = await runAudit(dev(), { ops: ['fab_projection'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.cases).toBeGreaterThan(10);
  });

  it('the float64 reference is the smallest step onto the plane inside [0, 1]^3 (a brute-force grid search), or the nearest corner', () => {
    const rng = new CpuRandom(7);
    const steps = 120;
    for (const norm of NORMS) {
      for (let trial = 0; trial < 12; trial++) {
        const t = [rng.next(), rng.next(), rng.next()];
        const w = [rng.normal(), rng.normal(), rng.normal()];
        const wt = w.reduce((s, v, i) => s + v * t[i]!, 0);
        const b = wt + rng.uniform(-1.5, 1.5);
        const d = refFabProjection(ref([1, 3], t), ref([1, 3], w), ref([1], [b]), norm).data;
        const z = t.map((v, i) => v + d[i]!);
        z.forEach((v, i) => expect(v, `${norm} trial ${trial} coordinate ${i} inside the box`).toBeGreaterThanOrEqual(-1e-12));
        z.forEach((v, i) => expect(v, `${norm} trial ${trial} coordinate ${i} inside the box`).toBeLessThanOrEqual(1 + 1e-12));
        // Brute force: z0, z1 on a grid, z2 solved from the plane, kept when inside the box.
        let best = Infinity;
        for (let i = 0; i <= steps; i++) {
          for (let j = 0; j <= steps; j++) {
            const z0 = i / steps;
            const z1 = j / steps;
            const z2 = (b - w[0]! * z0 - w[1]! * z1) / w[2]!;
            if (z2 < 0 || z2 > 1) continue;
            best = Math.min(best, normOf([z0 - t[0]!, z1 - t[1]!, z2 - t[2]!], norm));
          }
        }
        const reached = Math.abs(w.reduce((s, v, i) => s + v * z[i]!, 0) - b) < 1e-9;
        if (best === Infinity) {
          // The plane misses the box: the result is the corner nearest to it, so nothing in the box is closer.
          expect(reached, `${norm} trial ${trial}: a missed plane is not reached`).toBe(false);
          const corner = w.map((v) => ((v > 0) === (wt > b) ? 0 : 1));
          expectClose(z, corner, 1e-12, 0, `${norm} trial ${trial} corner`);
        } else {
          expect(reached, `${norm} trial ${trial}: the step lands on the plane`).toBe(true);
          const got = normOf(d, norm);
          expect(got, `${norm} trial ${trial}: no grid point is closer`).toBeLessThanOrEqual(best + 1e-12);
          // The grid's resolution, scaled by how steeply z2 follows z0 and z1.
          const slack = (2 / steps) * (1 + (Math.abs(w[0]!) + Math.abs(w[1]!)) / Math.abs(w[2]!));
          expect(best - got, `${norm} trial ${trial}: the grid gets as close (up to its resolution)`).toBeLessThanOrEqual(slack);
        }
      }
    }
  });

  it('matches the reference on a FAB-sized batch (iterate and original point per plane, 128 x 784)', async () => {
    const rng = new CpuRandom(3);
    const [n, d] = [128, 784];
    const pts = Array.from({ length: 2 * n * d }, () => (rng.next() < 0.3 ? Math.round(rng.next()) : Math.fround(rng.next())));
    const w = Array.from({ length: n * d }, () => Math.fround(rng.normal() * 0.01));
    const b = Array.from({ length: n }, (_, h) => {
      let wt = 0;
      for (let i = 0; i < d; i++) wt += w[h * d + i]! * pts[h * d + i]!;
      return Math.fround(wt + rng.uniform(-0.5, 0.5));
    });
    for (const norm of NORMS) {
      const got = await fabProjection(tensor(pts, [2 * n, d]), tensor(w, [n, d]), tensor(b, [n]), { norm }).read();
      const want = refFabProjection(ref([2 * n, d], pts), ref([n, d], w), ref([n], b), norm).data;
      expectClose(got, want, 1e-5, 1e-4, `${norm} step`);
    }
  });

  it('the other thread layout (a team of 64 per row on a GPU, one thread per row on a CPU adapter) gives the same steps', async () => {
    const rng = new CpuRandom(5);
    const [n, d] = [5, 1000];
    const pts = Array.from({ length: 2 * n * d }, () => Math.fround(rng.next()));
    const w = Array.from({ length: n * d }, () => (rng.next() < 0.1 ? 0 : Math.fround(rng.normal())));
    const b = Array.from({ length: n }, (_, h) => Math.fround(w.slice(h * d, (h + 1) * d).reduce((s, v, i) => s + v * pts[h * d + i]!, 0) + rng.uniform(-20, 20)));
    const [tp, tw, tb] = [tensor(pts, [2 * n, d]), tensor(w, [n, d]), tensor(b, [n])];
    for (const norm of NORMS) {
      const out = empty(dev(), [2 * n, d]);
      runFabProjection(dev(), { points: tp.storage.binding(), w: tw.storage.binding(), b: tb.storage.binding(), d: out.storage.binding() }, 2 * n, d, n, norm, !dev().info.fallback);
      const want = refFabProjection(ref([2 * n, d], pts), ref([n, d], w), ref([n], b), norm).data;
      expectClose(await out.read(), want, 1e-5, 1e-4, `${norm} step (other layout)`);
      expectClose(await out.read(), await fabProjection(tp, tw, tb, { norm }).read(), 1e-6, 1e-5, `${norm}: both layouts`);
    }
  });

  it('refuses mismatched shapes and an unknown norm, naming them', () => {
    const p = tensor(new Float32Array(12), [4, 3]);
    const w = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(2), [2]);
    expect(() => fabProjection(p, tensor(new Float32Array(8), [2, 4]), b, { norm: 'linf' })).toThrow(/w must be \[N, 3\].*got \[2, 4\]/);
    expect(() => fabProjection(p, w, tensor(new Float32Array(3), [3]), { norm: 'l2' })).toThrow(/b must be \[2\].*got \[3\]/);
    expect(() => fabProjection(tensor(new Float32Array(9), [3, 3]), w, b, { norm: 'l2' })).toThrow(/rows of points \(3\) must be a multiple of the hyperplanes \(2\)/);
    expect(() => fabProjection(p, w, b, { norm: 'l1' as never })).toThrow(/norm must be 'linf' or 'l2', got "l1"/);
  });
});
