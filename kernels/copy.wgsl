// Strided copy of 32-bit words (any dtype): for every coordinate c of `shape`,
// dst[dst_offset + c . dst_strides] = src[src_offset + c . src_strides].
// Serves permute, slice, broadcast_to, concat and their backwards. The wrapper (copy.ts) first coalesces the
// dims (drops size-1 dims, merges dims contiguous in both views), so RANK (1..8) is small and a pipeline
// constant: the coordinate loop has a constant trip count and unrolls, and its uniform indexing becomes static.
// Each thread copies VEC consecutive elements of one row of the innermost dim (shape[RANK-1] = inner): its
// row's outer coordinates are found once with RANK-2 div/mods, then the VEC elements step by the inner strides.
// Bindings: src (read, u32), dst (write, u32), params. Threads = rows * chunks; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
const WG: u32 = 256u;
override RANK: u32 = 1u;
override VEC: u32 = 8u;

struct Params {
  threads: u32,
  chunks: u32,
  src_offset: u32,
  dst_offset: u32,
  shape: array<vec4<u32>, 2>,
  src_strides: array<vec4<u32>, 2>,
  dst_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn dim(a: array<vec4<u32>, 2>, k: u32) -> u32 {
  return a[k >> 2u][k & 3u];
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = flat_id(wid, nwg) * WG + lid.x;
  if (t >= params.threads) { return; }
  let row = t / params.chunks;
  let i0 = (t - row * params.chunks) * VEC;
  let inner = dim(params.shape, RANK - 1u);
  let ss = dim(params.src_strides, RANK - 1u);
  let ds = dim(params.dst_strides, RANK - 1u);
  var s = params.src_offset + i0 * ss;
  var d = params.dst_offset + i0 * ds;
  // Outer dims RANK-2 .. 1 by div/mod; dim 0 takes the rest, which is below shape[0] since t < threads.
  var rest = row;
  for (var j = 2u; j < RANK; j++) {
    let k = RANK - j;
    let n = dim(params.shape, k);
    let q = rest / n;
    let c = rest - q * n;
    rest = q;
    s += c * dim(params.src_strides, k);
    d += c * dim(params.dst_strides, k);
  }
  if (RANK > 1u) {
    s += rest * dim(params.src_strides, 0u);
    d += rest * dim(params.dst_strides, 0u);
  }
  for (var v = 0u; v < VEC; v++) {
    if (i0 + v < inner) { dst[d + v * ds] = src[s + v * ss]; }
  }
}
