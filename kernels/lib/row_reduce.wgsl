// Row teams for the row-wise kernels (softmax.wgsl, cross_entropy.wgsl, kl.wgsl): TEAM threads share a row
// (strided loops over its elements, then a tree in workgroup memory), WG / TEAM rows per workgroup, 1-D grid
// folded into 2-D. WG and TEAM are declared here, once, because kernels/softmax.ts (rowTeam, rowGrid) sizes
// the grid for all three kernels from the same 64 threads per workgroup.
//!include lib/grid.wgsl
//!include lib/stable.wgsl
override TEAM: u32 = 1u;
const WG: u32 = 64u;

// One vec4 per thread, merged as two pairs (.xy, .zw): one array serves every payload the kernels reduce.
var<workgroup> team_red: array<vec4<f32>, WG>;

// team_reduce's merge modes for its pairs (.xy, .zw): true merges the pair as an online log-sum-exp (m, s)
// (lse_merge, lib/stable.wgsl), false adds the two components (unused ones are passed as 0 and stay 0).
const SUM_SUM = vec2<bool>(false, false);
const LSE_SUM = vec2<bool>(true, false);
const LSE_LSE = vec2<bool>(true, true);

// The row of local thread lid (its lane in the row's team is lid % TEAM).
fn team_row(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return flat_id(wid, nwg) * (WG / TEAM) + lid / TEAM;
}

// Combines the TEAM lanes' values of each row by `lse` (a pairwise tree, so the order of the merges is
// fixed); every lane gets its row's result. Called in uniform control flow by all threads.
fn team_reduce(lid: u32, v: vec4<f32>, lse: vec2<bool>) -> vec4<f32> {
  // A row per thread needs no exchange (TEAM is an override, so this branch is uniform).
  if (TEAM == 1u) { return v; }
  team_red[lid] = v;
  workgroupBarrier();
  let lane = lid % TEAM;
  for (var w = TEAM / 2u; w > 0u; w = w / 2u) {
    if (lane < w) {
      let a = team_red[lid];
      let b = team_red[lid + w];
      var r = a + b;
      if (lse.x) { r = vec4<f32>(lse_merge(a.xy, b.xy), r.zw); }
      if (lse.y) { r = vec4<f32>(r.xy, lse_merge(a.zw, b.zw)); }
      team_red[lid] = r;
    }
    workgroupBarrier();
  }
  let r = team_red[lid - lane];
  // Nobody may overwrite the array (next call) before every lane has read its row's result.
  workgroupBarrier();
  return r;
}
