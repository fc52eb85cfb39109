// FAB's projection (Croce & Hein 2020): for each row r of points [M, D], the smallest L-inf or L2 step d with
//   w_h . (t_r + d) = b_h  and  t_r + d in [0, 1]^D,   h = r % N (row h of w [N, D] and b [N]),
// or, where the hyperplane misses the box, the box corner nearest to it (AutoAttack's fab_projections.py).
// With s = sign(w_h . t - b_h) and c = |w_h . t - b_h|, coordinate i moves against s w_i by
//   len_i(lam) = min(lam k_i, room_i),  k_i = 1 (L-inf) or |w_i| (L2),  room_i = t_i if s w_i > 0, else 1 - t_i
// (the minimiser of either norm by the KKT conditions), with lam >= 0 the root of the nondecreasing, piecewise
// linear G(lam) = sum_i |w_i| len_i(lam) = c. AutoAttack sorts the breakpoints sat_i = room_i / k_i and
// bisects their index; here the search is over lam itself, on its float32 bit pattern (nonnegative floats
// are ordered like their bits), from [0, FLT_MAX] (L-inf) or [0, sum_i max(t_i, 1 - t_i) / |w_i|] (L2). Each
// pass evaluates G at PROBES points in one sweep of the row and one team reduction and keeps the sub-interval
// whose ends bracket c, until they are adjacent floats; lam is the upper end (G(lam) >= c: the step reaches
// the plane). Float32 rounding is monotone, so the evaluated G is too and the search is sound. c = 0 gives
// d = 0, and a plane that misses the box the saturated corner (the search ends at its upper bound, where
// every coordinate has saturated). Coordinates with w_i = 0 (L-inf) or |w_i| <= 1e-8 (L2) do not move
// (AutoAttack's thresholds). Points are meant to lie in [0, 1].
// No sort and no scratch: the row is swept once per pass (from cache). TEAM threads share a row
// (lib/row_reduce.wgsl): 1 on a CPU adapter, where barriers are what costs, 64 on a GPU.
// Bindings: points (read, f32 [M, D]), w (read, f32 [N, D]), b (read, f32 [N]), d (write, f32 [M, D]),
// params {rows: M, features: D, planes: N}. Override L2: the norm (false: L-inf).
//!include lib/row_reduce.wgsl
// Probes per pass (the four lanes of team_reduce's vec4): the bracket shrinks five times per reduction.
const PROBES: u32 = 4u;
// Passes that shrink any bracket of nonnegative finite float32 bit patterns (< 2^31) to adjacent floats, in the
// worst case of probe()'s rounding (checked by enumeration: 14).
const PASSES: u32 = 14u;
const FLT_MAX_BITS: u32 = 0x7f7fffffu;
override L2: bool = false;

struct Params { rows: u32, features: u32, planes: u32 }

@group(0) @binding(0) var<storage, read> points: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> d: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

fn is_active(wi: f32) -> bool {
  if (L2) { return abs(wi) > 1e-8; }
  return wi != 0.0;
}

// Coordinate i's step length at lam (lam k_i stays finite: lam <= top_lam, see below).
fn step_len(lam: f32, wi: f32, room: f32) -> f32 {
  if (L2) { return min(lam * abs(wi), room); }
  return min(lam, room);
}

// Probe j of the bracket [lo, top]: lo + (j + 1) q, q = (top - lo) / (PROBES + 1) rounded down (at least 1), below top.
fn probe(lo: u32, top: u32, j: u32) -> u32 {
  let q = max((top - lo) / (PROBES + 1u), 1u);
  return min(lo + (j + 1u) * q, top - 1u);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = team_row(wid, nwg, lid.x);
  let lane = lid.x % TEAM;
  let valid = row < params.rows;
  // Rows past the end (a partly filled workgroup) sweep nothing but still join the reductions' barriers.
  let f = select(0u, params.features, valid);
  let r = select(0u, row, valid);
  let h = r % max(params.planes, 1u);
  let pbase = r * params.features;
  let wbase = h * params.features;

  // w . t, and for L2 sum_i max(t_i, 1 - t_i) / |w_i|, at least every sat_i (a float32 sum of nonnegative
  // terms is at least each of them), so every coordinate has saturated there and lam k_i cannot overflow.
  var acc = vec4<f32>(0.0);
  for (var i = lane; i < f; i += TEAM) {
    let ti = points[pbase + i];
    let wi = w[wbase + i];
    acc.x += wi * ti;
    if (L2 && is_active(wi)) { acc.y += max(ti, 1.0 - ti) / abs(wi); }
  }
  let setup = team_reduce(lid.x, acc, SUM_SUM);
  let c_signed = setup.x - select(0.0, b[h], valid);
  // The point lies below its plane: coordinates move along w instead of against it.
  let flip = c_signed < 0.0;
  let c = abs(c_signed);

  // Each coordinate's room, 0 for those that do not move (so they add nothing to G), kept in d until the end:
  // every lane reads back only what it wrote, so no barrier is needed.
  if (valid) {
    for (var i = lane; i < f; i += TEAM) {
      let ti = points[pbase + i];
      let wi = w[wbase + i];
      d[pbase + i] = select(0.0, select(1.0 - ti, ti, (wi > 0.0) != flip), is_active(wi));
    }
  }

  var lo = 0u;
  // L-inf: min(lam, room) cannot overflow, so the search may start from the largest float.
  var hi = select(FLT_MAX_BITS, bitcast<u32>(setup.y), L2);
  for (var it = 0u; it < PASSES; it++) {
    let open = hi - lo > 1u;
    // A closed bracket still takes part in the reductions (their barriers need every thread), on dummy probes.
    let top = select(lo + 1u, hi, open);
    var lam = vec4<f32>(0.0);
    for (var j = 0u; j < PROBES; j++) { lam[j] = bitcast<f32>(probe(lo, top, j)); }
    var g = vec4<f32>(0.0);
    for (var i = lane; i < f; i += TEAM) {
      let aw = abs(w[wbase + i]);
      let room = vec4<f32>(d[pbase + i]);
      if (L2) { g += aw * min(lam * aw, room); } else { g += aw * min(lam, room); }
    }
    let gs = team_reduce(lid.x, g, SUM_SUM);
    if (open) {
      // The first probe reaching c bounds the root from above; the last one short of it, from below.
      var nlo = lo;
      var nhi = hi;
      for (var j = 0u; j < PROBES; j++) {
        let m = probe(lo, top, j);
        if (gs[j] >= c) { nhi = min(nhi, m); } else { nlo = max(nlo, m); }
      }
      lo = nlo;
      hi = nhi;
    }
  }
  let lam_star = select(bitcast<f32>(hi), 0.0, c <= 0.0);

  if (!valid) { return; }
  for (var i = lane; i < f; i += TEAM) {
    let wi = w[wbase + i];
    let len = step_len(lam_star, wi, d[pbase + i]);
    d[pbase + i] = select(len, -len, (wi > 0.0) != flip);
  }
}
