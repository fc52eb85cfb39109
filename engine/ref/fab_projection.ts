/**
 * Float64 reference of FAB's projection (engine/ops/fab_projection.ts): for each row r of points [M, D], the
 * smallest L-inf or L2 step onto the hyperplane w[r % N] . z = b[r % N] inside [0, 1]^D, or the box corner
 * nearest to it, by walking the sorted breakpoints of G(lam) = sum_i |w_i| min(lam k_i, room_i) (the method of
 * the paper and of AutoAttack's fab_projections.py; the kernel searches lam by bisection instead).
 */
import { ref, type RefTensor } from './tensor.js';

export type ProjectionNorm = 'linf' | 'l2';

const isActive = (norm: ProjectionNorm, w: number): boolean => (norm === 'l2' ? Math.abs(w) > 1e-8 : w !== 0);

/** One row: c = |w . t - b|; walk the breakpoints sat_i = room_i / k_i upwards until G reaches c. */
function projectRow(t: ArrayLike<number>, w: ArrayLike<number>, b: number, norm: ProjectionNorm): Float64Array {
  const n = t.length;
  let c = -b;
  for (let i = 0; i < n; i++) c += w[i]! * t[i]!;
  const flip = c < 0;
  c = Math.abs(c);
  const d = new Float64Array(n);
  if (c <= 0) return d;
  const coords: { i: number; aw: number; k: number; room: number; down: boolean; sat: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (!isActive(norm, w[i]!)) continue;
    const aw = Math.abs(w[i]!);
    const k = norm === 'l2' ? aw : 1;
    const down = (w[i]! > 0) !== flip;
    const room = down ? t[i]! : 1 - t[i]!;
    coords.push({ i, aw, k, room, down, sat: room / k });
  }
  coords.sort((p, q) => p.sat - q.sat);
  let slope = coords.reduce((s, q) => s + q.aw * q.k, 0);
  let saturated = 0;
  let lam = coords.length ? coords[coords.length - 1]!.sat : 0;
  for (const q of coords) {
    if (saturated + q.sat * slope >= c) { lam = (c - saturated) / slope; break; }
    saturated += q.aw * q.room;
    slope -= q.aw * q.k;
  }
  for (const q of coords) {
    const len = Math.min(lam * q.k, q.room);
    d[q.i] = q.down ? -len : len;
  }
  return d;
}

export function refFabProjection(points: RefTensor, w: RefTensor, b: RefTensor, norm: ProjectionNorm): RefTensor {
  const [rows, features] = points.shape as [number, number];
  const planes = w.shape[0]!;
  const out = ref([rows, features]);
  for (let r = 0; r < rows; r++) {
    const h = r % planes;
    const row = projectRow(points.data.subarray(r * features, (r + 1) * features), w.data.subarray(h * features, (h + 1) * features), b.data[h]!, norm);
    out.data.set(row, r * features);
  }
  return out;
}
