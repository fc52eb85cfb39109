/**
 * fab_step: FAB's biased step (Croce & Hein 2020; AutoAttack fab_base.py) from the two projections
 * fab_projection makes of an iterate x1 and of the original point x0 onto the same hyperplane, one dispatch
 * for the batch:
 *   a1 = max(||d1||, 1e-8), a2 = max(||d2||, 1e-8), alpha = min(a1 / (a1 + a2), alphaMax),
 *   moved = clamp((1 - alpha)(x1 + eta d1) + alpha (x0 + eta d2), 0, 1),   dist = ||moved - x0|| per example,
 * with d [2N, D] holding d1 in rows 0..N-1 and d2 in rows N..2N-1. Outputs `moved` (x1's shape) and `dist` [N].
 * Forward only.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { CpuRandom } from '../ref/random.js';
import { fmt, sameShape, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runFabStep } from '../../kernels/fab.js';
import type { ProjectionNorm } from './fab_projection.js';

export interface FabStepAttrs { norm: ProjectionNorm; eta: number; alphaMax: number }

function checkArgs(what: string, x1: Shape, x0: Shape, d: Shape, a: FabStepAttrs): { rows: number; features: number } {
  if (a.norm !== 'linf' && a.norm !== 'l2') throw new RangeError(`${what}: norm must be 'linf' or 'l2', got ${JSON.stringify(a.norm)}`);
  if (!Number.isFinite(a.eta)) throw new RangeError(`${what}: eta must be finite, got ${a.eta}`);
  if (!(a.alphaMax >= 0 && a.alphaMax <= 1)) throw new RangeError(`${what}: alphaMax must be in [0, 1], got ${a.alphaMax}`);
  if (x1.length < 1) throw new RangeError(`${what}: x1 needs a batch dimension, got ${fmt(x1)}`);
  if (!sameShape(x0, x1)) throw new RangeError(`${what}: x0 has shape ${fmt(x0)}, expected x1's ${fmt(x1)}`);
  const rows = x1[0]!;
  const features = x1.slice(1).reduce((p, q) => p * q, 1);
  if (d.length !== 2 || d[0] !== 2 * rows || d[1] !== features) throw new RangeError(`${what}: d must be [${2 * rows}, ${features}] (both projections of each example), got ${fmt(d)}`);
  return { rows, features };
}

function refStep(x1: RefTensor, x0: RefTensor, d: RefTensor, a: FabStepAttrs): { moved: RefTensor; dist: RefTensor } {
  const { rows, features: f } = checkArgs('fab_step (reference)', x1.shape, x0.shape, d.shape, a);
  const norm = (v: number[]) => (a.norm === 'linf' ? v.reduce((m, u) => Math.max(m, Math.abs(u)), 0) : Math.sqrt(v.reduce((s, u) => s + u * u, 0)));
  const moved = ref(x1.shape);
  const dist = ref([rows]);
  for (let r = 0; r < rows; r++) {
    const d1 = Array.from(d.data.subarray(r * f, (r + 1) * f));
    const d2 = Array.from(d.data.subarray((rows + r) * f, (rows + r + 1) * f));
    const [a1, a2] = [Math.max(norm(d1), 1e-8), Math.max(norm(d2), 1e-8)];
    const alpha = Math.min(a1 / (a1 + a2), a.alphaMax);
    const delta: number[] = [];
    for (let i = 0; i < f; i++) {
      const k = r * f + i;
      const m = Math.min(1, Math.max(0, (x1.data[k]! + a.eta * d1[i]!) * (1 - alpha) + (x0.data[k]! + a.eta * d2[i]!) * alpha));
      moved.data[k] = m;
      delta.push(m - x0.data[k]!);
    }
    dist.data[r] = norm(delta);
  }
  return { moved, dist };
}

/** Iterates and images in [0, 1] (some on the faces), steps of a few hundredths, one example with d1 = 0 and one with both 0. */
function drawCase(name: string, norm: ProjectionNorm, shape: Shape, a: { eta: number; alphaMax: number }, seed: number): AuditCase<FabStepAttrs> {
  const rng = new CpuRandom(seed);
  const rows = shape[0]!;
  const f = shape.slice(1).reduce((p, q) => p * q, 1);
  const img = () => Array.from({ length: rows * f }, () => { const u = rng.next(); return u < 0.1 ? 0 : u < 0.2 ? 1 : Math.fround(rng.next()); });
  const x1 = img();
  const x0 = img();
  const d = Array.from({ length: 2 * rows * f }, (_, k) => {
    const r = Math.floor(k / f);
    if (r === 1 || (rows > 2 && (r === 2 || r === rows + 2))) return 0;
    return Math.fround(rng.normal() * 0.05);
  });
  return { name, shapes: [shape, shape, [2 * rows, f]], attrs: { norm, ...a }, values: [x1, x0, d] };
}

const cases = (norm: ProjectionNorm): AuditCase<FabStepAttrs>[] => [
  drawCase(`fab_step ${norm} [5,1,4,4]`, norm, [5, 1, 4, 4], { eta: 1.05, alphaMax: 0.1 }, norm === 'l2' ? 11 : 1),
  drawCase(`fab_step ${norm} [3,300] alpha uncapped`, norm, [3, 300], { eta: 1.05, alphaMax: 1 }, norm === 'l2' ? 12 : 2),
  drawCase(`fab_step ${norm} [70,3] (several workgroups) alphaMax 0`, norm, [70, 3], { eta: 1.3, alphaMax: 0 }, norm === 'l2' ? 13 : 3),
  drawCase(`fab_step ${norm} [1,1]`, norm, [1, 1], { eta: 1, alphaMax: 0.5 }, norm === 'l2' ? 14 : 4),
];

const fabStepOp = defineOp<FabStepAttrs>({
  name: 'fab_step',
  inputs: ['x1', 'x0', 'd'],
  outputs: ['moved', 'dist'],
  forward: ([x1, x0, d], a) => {
    const { rows, features } = checkArgs('fabStep', x1!.shape, x0!.shape, d!.shape, a);
    const moved = empty(x1!.device, x1!.shape);
    const dist = empty(x1!.device, [rows]);
    runFabStep(x1!.device, { x1: x1!.storage.binding(), x0: x0!.storage.binding(), d: d!.storage.binding(), moved: moved.storage.binding(), dist: dist.storage.binding() },
      rows, features, a.eta, a.alphaMax, a.norm, x1!.device.info.fallback);
    return { outs: { moved, dist } };
  },
  reference: { forward: ([x1, x0, d], a) => refStep(x1!, x0!, d!, a) },
  nondiff: [0, 1, 2],
  audit: [...cases('linf'), ...cases('l2')],
});

/** FAB's biased step: the new iterate and its distance to x0 (see the header). */
export function fabStep(x1: Tensor, x0: Tensor, d: Tensor, opts: { norm: ProjectionNorm; eta: number; alphaMax: number }): { moved: Tensor; dist: Tensor } {
  const r = fabStepOp([x1, x0, d], { norm: opts.norm, eta: opts.eta, alphaMax: opts.alphaMax });
  return { moved: r.moved!, dist: r.dist! };
}
