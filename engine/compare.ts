/**
 * The one closeness rule used by the audit and the reference-case runner (REFERENCE_CASES.md):
 * |got - ref| <= atol * max(1, max|ref|) + rtol * |ref| elementwise; NaN never passes, matching infinities do.
 */
export interface Tolerance { atol: number; rtol: number }
export const DEFAULT_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };

export interface Comparison {
  pass: boolean;
  maxAbs: number;
  /** Largest |got-ref|/|ref| over elements whose |ref| is not negligible (> 1e-3 * max(1, max|ref|)). */
  maxRel: number;
  /** Largest error as a fraction of the allowed error (<= 1 passes). */
  worstRatio: number;
  worstIndex: number;
  got: number;
  want: number;
}

export function compare(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): Comparison {
  if (got.length !== want.length) throw new RangeError(`compare: ${got.length} values against ${want.length}`);
  let scale = 1;
  for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i]!)) scale = Math.max(scale, Math.abs(want[i]!));
  const r: Comparison = { pass: true, maxAbs: 0, maxRel: 0, worstRatio: 0, worstIndex: -1, got: NaN, want: NaN };
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    let ratio: number;
    let err: number;
    if (Number.isNaN(g) || Number.isNaN(w)) { err = Infinity; ratio = Infinity; }
    else if (!Number.isFinite(w) || !Number.isFinite(g)) { err = g === w ? 0 : Infinity; ratio = g === w ? 0 : Infinity; }
    else {
      err = Math.abs(g - w);
      ratio = err === 0 ? 0 : err / (tol.atol * scale + tol.rtol * Math.abs(w));
      if (Math.abs(w) > 1e-3 * scale) r.maxRel = Math.max(r.maxRel, err / Math.abs(w));
    }
    r.maxAbs = Math.max(r.maxAbs, err);
    if (ratio > r.worstRatio || r.worstIndex < 0) { r.worstRatio = ratio; r.worstIndex = i; r.got = g; r.want = w; }
  }
  r.pass = r.worstRatio <= 1;
  return r;
}
