// FAB's biased step (Croce & Hein 2020; AutoAttack fab_base.py), per example r of x1, x0 [N, D] with the two
// projections d [2N, D] (row r: from x1, row N + r: from x0, as fab_projection.wgsl writes them):
//   a1 = max(||d_r||, 1e-8), a2 = max(||d_{N+r}||, 1e-8), alpha = min(a1 / (a1 + a2), alpha_max),
//   moved_r = clamp((1 - alpha)(x1_r + eta d_r) + alpha (x0_r + eta d_{N+r}), 0, 1),   dist_r = ||moved_r - x0_r||,
// in the L-inf or L2 norm. TEAM threads share an example (lib/row_reduce.wgsl: 1 on a CPU adapter, 64 on a
// GPU); two team reductions (the step norms, then the distance); 1-D grid folded into 2-D.
// Bindings: x1, x0 (read, f32 [N, D]), d (read, f32 [2N, D]), moved (write, f32 [N, D]), dist (write, f32 [N]),
// params {rows: N, features: D, eta, alpha_max}. Override L2: the norm (false: L-inf).
//!include lib/row_reduce.wgsl
override L2: bool = false;

struct Params { rows: u32, features: u32, eta: f32, alpha_max: f32 }

@group(0) @binding(0) var<storage, read> x1: array<f32>;
@group(0) @binding(1) var<storage, read> x0: array<f32>;
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> moved: array<f32>;
@group(0) @binding(4) var<storage, read_write> dist: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

// One lane's share of a norm: |v| folded by max (L-inf) or v^2 by a sum (L2).
fn fold(acc: f32, v: f32) -> f32 {
  if (L2) { return acc + v * v; }
  return max(acc, abs(v));
}

// The team's norms of its lanes' shares (.x and .y): a max tree (L-inf) over team_red, or team_reduce's sum.
fn team_norms(lid: u32, v: vec2<f32>) -> vec2<f32> {
  if (L2) { return sqrt(team_reduce(lid, vec4<f32>(v, 0.0, 0.0), SUM_SUM).xy); }
  if (TEAM == 1u) { return v; }
  team_red[lid] = vec4<f32>(v, 0.0, 0.0);
  workgroupBarrier();
  let lane = lid % TEAM;
  for (var w = TEAM / 2u; w > 0u; w = w / 2u) {
    if (lane < w) { team_red[lid] = max(team_red[lid], team_red[lid + w]); }
    workgroupBarrier();
  }
  let r = team_red[lid - lane].xy;
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = team_row(wid, nwg, lid.x);
  let lane = lid.x % TEAM;
  let valid = row < params.rows;
  // Rows past the end (a partly filled workgroup) touch nothing but still join the reductions' barriers.
  let f = select(0u, params.features, valid);
  let base = row * params.features;
  let base2 = (params.rows + row) * params.features;

  var s = vec2<f32>(0.0);
  for (var i = lane; i < f; i += TEAM) { s = vec2<f32>(fold(s.x, d[base + i]), fold(s.y, d[base2 + i])); }
  let a = max(team_norms(lid.x, s), vec2<f32>(1e-8));
  let alpha = min(a.x / (a.x + a.y), params.alpha_max);
  let eta = params.eta;

  var t = 0.0;
  for (var i = lane; i < f; i += TEAM) {
    let o = x0[base + i];
    let m = clamp((x1[base + i] + eta * d[base + i]) * (1.0 - alpha) + (o + eta * d[base2 + i]) * alpha, 0.0, 1.0);
    moved[base + i] = m;
    t = fold(t, m - o);
  }
  let n = team_norms(lid.x, vec2<f32>(t, 0.0)).x;
  if (valid && lane == 0u) { dist[row] = n; }
}
