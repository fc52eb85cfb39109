// The gradient of one tensor of weighted_sum.wgsl: y = a[k] * g elementwise, and 0 where a[k] is 0 (either
// sign, tested on the bits), since the forward drops that term and so does not depend on t_k.
// Bindings: g (read, f32 [n]), a (read, f32 [K]), y (write, f32 [n]), params {n, k}. One element per thread.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, k: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let c = a[params.k];
  y[i] = select(0.0, c * g[i], (bitcast<u32>(c) & 0x7fffffffu) != 0u);
}
