// FAB's bookkeeping after the check of the new iterate (AutoAttack fab_base.py), per element i of example r:
//   x1_next = wrong_r != 0 ? x0 + beta (moved - x0) : moved   (the backward step towards x0 after a success)
//   adv_next = closer_r != 0 ? moved : adv                     (the closest adversarial point so far)
// with moved, x0, adv [N, D] and the masks wrong, closer [N]. One element per thread, 1-D grid folded into 2-D.
// Bindings: moved, x0, adv (read, f32 [N, D]), wrong, closer (read, f32 [N]), x1_next, adv_next (write, f32 [N, D]),
// params {n: N * D, features: D, beta}.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, features: u32, beta: f32 }

@group(0) @binding(0) var<storage, read> moved: array<f32>;
@group(0) @binding(1) var<storage, read> x0: array<f32>;
@group(0) @binding(2) var<storage, read> adv: array<f32>;
@group(0) @binding(3) var<storage, read> wrong: array<f32>;
@group(0) @binding(4) var<storage, read> closer: array<f32>;
@group(0) @binding(5) var<storage, read_write> x1_next: array<f32>;
@group(0) @binding(6) var<storage, read_write> adv_next: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let r = i / params.features;
  let m = moved[i];
  let o = x0[i];
  x1_next[i] = select(m, o + params.beta * (m - o), wrong[r] != 0.0);
  adv_next[i] = select(adv[i], m, closer[r] != 0.0);
}
