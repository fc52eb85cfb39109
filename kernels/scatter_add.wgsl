// Scatter-add along an axis (scatter_add, index_add, and the gradients of gather and index_select), as a gather so
// that the sum is deterministic without float atomics: each output element o, with coordinate c over `shape` (the
// output's, `rank` coalesced dims) and t = c[axis], sums the src elements that index sends to it, in increasing
// order along the axis:
//   out[o] = x[o] (0 without HAS_X) + sum over m < m_len, in order, of alpha * src[c(m) . src_strides]
//            where index[c(m) . index_strides] == t,
// with c(m) = c with c[axis] replaced by m, and only where c's other coordinates are inside `bound` (the index's
// shape; index_add's index broadcasts: index_strides are 0 off the axis). Out-of-range indices match no output.
// Cost: m_len iterations per output element (fine for the small index dims of gather/index_add; a sort-based
// segmented sum would serve a long index). Without HAS_X, x is not read (bind any read-only f32 buffer).
// Bindings: x, src (read, f32), index (read, i32), out (write, f32), params. One output element per thread.
//!include lib/grid.wgsl
const WG: u32 = 256u;
override HAS_X: bool = true;

struct Params {
  n: u32,
  rank: u32,
  axis: u32,
  m_len: u32,
  alpha: f32,
  shape: array<vec4<u32>, 2>,
  bound: array<vec4<u32>, 2>,
  index_strides: array<vec4<u32>, 2>,
  src_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Read straight from the uniform: an array passed by value and indexed at run time is copied first (lib/indexed.wgsl).
fn shape_at(k: u32) -> u32 { return params.shape[k >> 2u][k & 3u]; }
fn bound_at(k: u32) -> u32 { return params.bound[k >> 2u][k & 3u]; }
fn index_stride(k: u32) -> u32 { return params.index_strides[k >> 2u][k & 3u]; }
fn src_stride(k: u32) -> u32 { return params.src_strides[k >> 2u][k & 3u]; }

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = flat_id(wid, nwg) * WG + lid.x;
  if (o >= params.n) { return; }
  var acc = 0.0;
  if (HAS_X) { acc = x[o]; }
  var rest = o;
  var t = 0u;
  var ibase = 0u;
  var sbase = 0u;
  var inside = true;
  for (var j = 1u; j <= params.rank; j++) {
    let d = params.rank - j;
    let n = shape_at(d);
    let q = rest / n;
    let c = rest - q * n;
    rest = q;
    if (d == params.axis) {
      t = c;
    } else {
      inside = inside && c < bound_at(d);
      ibase += c * index_stride(d);
      sbase += c * src_stride(d);
    }
  }
  if (inside) {
    let is = index_stride(params.axis);
    let ss = src_stride(params.axis);
    for (var m = 0u; m < params.m_len; m++) {
      if (index[ibase + m * is] == i32(t)) { acc += params.alpha * src[sbase + m * ss]; }
    }
  }
  out[o] = acc;
}
