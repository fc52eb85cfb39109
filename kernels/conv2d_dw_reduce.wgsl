// dw[i] = sum_{s < chunks} part[s * numel + i]: adds the split-K partial sums of conv2d_dw.wgsl, always in
// chunk order, so the weight gradient is deterministic.
// Layout: part [chunks, numel], dw [numel] (both contiguous). One element per thread; 1-D grid folded into 2-D.
// Bindings: part (read, f32), dw (write, f32), params.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { numel: u32, chunks: u32 }

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.numel) { return; }
  var s = 0.0;
  for (var k = 0u; k < params.chunks; k++) { s += part[k * params.numel + i]; }
  dw[i] = s;
}
