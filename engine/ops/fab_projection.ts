/**
 * fab_projection: the step FAB (Croce & Hein 2020) takes from a point onto the linearised decision boundary,
 * the smallest L-inf or L2 d with w . (t + d) = b and t + d in [0, 1]^D, or the box corner nearest the
 * hyperplane where it misses the box (AutoAttack's projection_linf / projection_l2). Rows of points [M, D]
 * use hyperplane row % N of w [N, D], b [N], so FAB projects its iterate and its original point onto the same
 * plane in one dispatch (M = 2N). Forward only (FAB never differentiates through it).
 *
 * The kernel (kernels/fab_projection.wgsl) finds the multiplier of the KKT solution by a bisection on its
 * float32 bits; the float64 reference (engine/ref/fab_projection.ts) walks the sorted breakpoints instead (the
 * paper's method), so the two share only the mathematics. Coordinates with w_i = 0 (L-inf) or |w_i| <= 1e-8 (L2) never move, as in
 * AutoAttack. Points are meant to lie in [0, 1] (FAB's iterates and images do).
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { refFabProjection } from '../ref/fab_projection.js';
import { CpuRandom } from '../ref/random.js';
import { fmt, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runFabProjection } from '../../kernels/fab.js';

import type { ProjectionNorm } from '../ref/fab_projection.js';

export type { ProjectionNorm };
export interface FabProjectionAttrs { norm: ProjectionNorm }

function checkShapes(what: string, p: Shape, w: Shape, b: Shape, norm: unknown): { rows: number; features: number; planes: number } {
  if (norm !== 'linf' && norm !== 'l2') throw new RangeError(`${what}: norm must be 'linf' or 'l2', got ${JSON.stringify(norm)}`);
  if (p.length !== 2) throw new RangeError(`${what}: points must be [M, D], got ${fmt(p)}`);
  if (w.length !== 2 || w[1] !== p[1]) throw new RangeError(`${what}: w must be [N, ${p[1]}] (D of points ${fmt(p)}), got ${fmt(w)}`);
  if (b.length !== 1 || b[0] !== w[0]) throw new RangeError(`${what}: b must be [${w[0]}] (one offset per row of w ${fmt(w)}), got ${fmt(b)}`);
  const [rows, features] = [p[0]!, p[1]!];
  const planes = w[0]!;
  if (planes === 0 ? rows !== 0 : rows % planes !== 0) throw new RangeError(`${what}: the rows of points (${rows}) must be a multiple of the hyperplanes (${planes})`);
  return { rows, features, planes };
}

// ---- audit inputs: points in [0, 1] with pixels on the faces, planes that cut the box with and without
// saturating coordinates, that miss it, that lie on either side, and weights that are zero or tiny ----

const f32 = Math.fround;

/** How plane h sits relative to its first point: b = w . t -+ frac * (the reach of G in that direction). */
type Placement = number;

function drawCase(name: string, norm: ProjectionNorm, rows: number, features: number, planes: number, place: Placement[], seed: number): AuditCase<FabProjectionAttrs> {
  const rng = new CpuRandom(seed);
  const t = Array.from({ length: rows * features }, () => {
    const u = rng.next();
    return u < 0.1 ? 0 : u < 0.2 ? 1 : f32(rng.next());
  });
  const w = Array.from({ length: planes * features }, () => {
    const u = rng.next();
    if (u < 0.1) return 0;
    if (u < 0.15 && norm === 'l2') return f32(rng.normal() * 1e-9);
    return f32(rng.normal());
  });
  const b = Array.from({ length: planes }, (_, h) => {
    const frac = place[h % place.length]!;
    let wt = 0;
    let reachDown = 0;
    let reachUp = 0;
    for (let i = 0; i < features; i++) {
      const [wi, ti] = [w[h * features + i]!, t[h * features + i]!];
      wt += wi * ti;
      reachDown += wi > 0 ? wi * ti : -wi * (1 - ti);
      reachUp += wi > 0 ? wi * (1 - ti) : -wi * ti;
    }
    return f32(frac >= 0 ? wt - frac * reachDown : wt - frac * reachUp);
  });
  return { name, shapes: [[rows, features], [planes, features], [planes]], attrs: { norm }, values: [t, w, b] };
}

function cases(norm: ProjectionNorm): AuditCase<FabProjectionAttrs>[] {
  const s = norm === 'l2' ? 100 : 0;
  // Placements: 0.3 and 0.7 of the reach (saturating some coordinates), 0.01 (none), 1.5 (the plane misses the
  // box: the corner), -0.4 (the point lies on the other side).
  return [
    drawCase(`fab_projection ${norm} [6,37]`, norm, 6, 37, 6, [0.3, 0.01, 1.5, -0.4, 0.7, -0.01], s + 1),
    drawCase(`fab_projection ${norm} [8,300] (two points per plane)`, norm, 8, 300, 4, [0.2, -0.6, 0.05, 3], s + 2),
    drawCase(`fab_projection ${norm} [2,3072] (CIFAR-sized rows)`, norm, 2, 3072, 2, [0.25, -0.9], s + 3),
    drawCase(`fab_projection ${norm} [1,1]`, norm, 1, 1, 1, [0.5], s + 4),
    drawCase(`fab_projection ${norm} [3,2] (tiny rows)`, norm, 3, 2, 3, [0.5, 2, -0.5], s + 5),
    // w . t == b exactly in float32 (d = 0); a plane with w = 0 everywhere (nothing moves); pixels on both faces.
    {
      name: `fab_projection ${norm} a point on its plane, a zero plane, pixels on the faces`, shapes: [[3, 4], [3, 4], [3]], attrs: { norm },
      values: [[0.5, 0.25, 0, 1, 0.5, 0.5, 0.5, 0.5, 0, 1, 1, 0], [1, 2, 0, 0, 0, 0, 0, 0, 1, -1, 1, -1], [1, 0.3, 0.5]],
    },
  ];
}

const fabProjectionOp = defineOp<FabProjectionAttrs>({
  name: 'fab_projection',
  inputs: ['points', 'w', 'b'],
  forward: ([p, w, b], a) => {
    const { rows, features, planes } = checkShapes('fabProjection', p!.shape, w!.shape, b!.shape, a.norm);
    const d = empty(p!.device, [rows, features]);
    runFabProjection(p!.device, { points: p!.storage.binding(), w: w!.storage.binding(), b: b!.storage.binding(), d: d.storage.binding() }, rows, features, planes, a.norm, p!.device.info.fallback);
    return d;
  },
  reference: {
    forward: ([p, w, b], a) => {
      checkShapes('fab_projection (reference)', p!.shape, w!.shape, b!.shape, a.norm);
      return refFabProjection(p!, w!, b!, a.norm);
    },
  },
  nondiff: [0, 1, 2],
  audit: [...cases('linf'), ...cases('l2')],
});

/**
 * The smallest L-inf or L2 step d [M, D] that takes each row of points [M, D] onto the hyperplane
 * w[r % N] . z = b[r % N] inside [0, 1]^D (or to the box corner nearest it), for w [N, D], b [N].
 */
export function fabProjection(points: Tensor, w: Tensor, b: Tensor, opts: { norm: ProjectionNorm }): Tensor {
  return fabProjectionOp([points, w, b], { norm: opts.norm });
}
