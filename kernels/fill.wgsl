// dst[i] = value for i < n, with value given as raw 32-bit word (any dtype). One element per thread.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, value: u32 }

@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  dst[i] = params.value;
}
