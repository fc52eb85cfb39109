// The coefficient gradients of weighted_sum.wgsl, d/da_k = sum(g * t_k), first step: for j < count,
// partial[(k0 + j) * groups + w] = sum of g * t_j over workgroup w's elements [w * per_group, (w + 1) * per_group).
// Each thread sums a strided part, then the tree of lib/workgroup_sum.wgsl (a fixed order: deterministic);
// reduce.wgsl sums each row of partial over the workgroups (with one workgroup, partial is the result).
// Like the forward, one pass takes t_{k0} .. t_{k0+count-1} in t0..t5 (the rest bound to any buffer, unread).
// Bindings: g (read, f32 [n]), partial (read_write, f32 [K, groups]), t0..t5 (read, f32 [n]),
// params {n, k0, count, groups, per_group}: 8 storage buffers, WebGPU's minimum per shader stage.
//!include lib/grid.wgsl
const WG: u32 = 256u;
//!include lib/workgroup_sum.wgsl

struct Params { n: u32, k0: u32, count: u32, groups: u32, per_group: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<storage, read> t0: array<f32>;
@group(0) @binding(3) var<storage, read> t1: array<f32>;
@group(0) @binding(4) var<storage, read> t2: array<f32>;
@group(0) @binding(5) var<storage, read> t3: array<f32>;
@group(0) @binding(6) var<storage, read> t4: array<f32>;
@group(0) @binding(7) var<storage, read> t5: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = flat_id(wid, nwg);
  let t = lid.x;
  let valid = w < params.groups;
  let start = w * params.per_group;
  let end = select(start, min(start + params.per_group, params.n), valid);
  let count = params.count;
  var acc = array<f32, 6>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  for (var e = start + t; e < end; e += WG) {
    let gv = g[e];
    acc[0] += gv * t0[e];
    if (count > 1u) { acc[1] += gv * t1[e]; }
    if (count > 2u) { acc[2] += gv * t2[e]; }
    if (count > 3u) { acc[3] += gv * t3[e]; }
    if (count > 4u) { acc[4] += gv * t4[e]; }
    if (count > 5u) { acc[5] += gv * t5[e]; }
  }
  for (var j = 0u; j < count; j++) {
    let s = wg_sum(t, acc[j]);
    if (valid && t == 0u) { partial[(params.k0 + j) * params.groups + w] = s; }
  }
}
