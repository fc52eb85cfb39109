// Strided copy of 32-bit words (any dtype): for every coordinate c of `shape` (rank <= 8),
// dst[dst_offset + c . dst_strides] = src[src_offset + c . src_strides].
// Serves permute, slice, broadcast_to, concat and their backwards. One element per thread.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params {
  n: u32,
  rank: u32,
  src_offset: u32,
  dst_offset: u32,
  shape: array<vec4<u32>, 2>,
  src_strides: array<vec4<u32>, 2>,
  dst_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  var rest = i;
  var s = params.src_offset;
  var d = params.dst_offset;
  for (var k = i32(params.rank) - 1; k >= 0; k--) {
    let q = u32(k) >> 2u;
    let r = u32(k) & 3u;
    let c = rest % params.shape[q][r];
    rest = rest / params.shape[q][r];
    s += c * params.src_strides[q][r];
    d += c * params.dst_strides[q][r];
  }
  dst[d] = src[s];
}
