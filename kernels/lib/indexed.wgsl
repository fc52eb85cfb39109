// The indexed view of gather.wgsl, scatter.wgsl and scatter_claim.wgsl (built by kernels/indexing.ts): for every
// coordinate c of `shape` (`rank` coalesced dims), k = index[c . index_strides] is a position along the axis of the
// indexed tensor, whose element is at c . target_strides + k * axis_stride (target_strides is 0 along the axis);
// the dense tensor's element (gather's output, scatter's src) is at c . dense_strides. A valid k is in
// [0, axis_size). Each thread takes VEC consecutive elements of the innermost dim, whose outer coordinates it
// finds once with rank-1 div/mods. The rank is a uniform, not a pipeline constant: the pipelines are few (lavapipe
// compiles each for a noticeable time) and the walk is once per VEC elements. The including kernel declares WG
// and `params: Params`.
const VEC: u32 = 8u;

struct Params {
  threads: u32,
  chunks: u32,
  rank: u32,
  axis_stride: u32,
  axis_size: u32,
  shape: array<vec4<u32>, 2>,
  index_strides: array<vec4<u32>, 2>,
  dense_strides: array<vec4<u32>, 2>,
  target_strides: array<vec4<u32>, 2>,
}

// Dim k of each list, read straight from the uniform: an array passed by value and indexed by a runtime k is
// copied to private memory first, on every call (gathers of rows ran 2-3x slower that way on lavapipe).
fn shape_at(k: u32) -> u32 { return params.shape[k >> 2u][k & 3u]; }
fn index_stride(k: u32) -> u32 { return params.index_strides[k >> 2u][k & 3u]; }
fn dense_stride(k: u32) -> u32 { return params.dense_strides[k >> 2u][k & 3u]; }
fn target_stride(k: u32) -> u32 { return params.target_strides[k >> 2u][k & 3u]; }

// Where thread t's first element is: offsets into index, dense and target (before the k * axis_stride term),
// and its first coordinate along the innermost dim.
struct Walk { at_index: u32, at_dense: u32, at_target: u32, i0: u32 }

fn walk_start(t: u32) -> Walk {
  let row = t / params.chunks;
  let i0 = (t - row * params.chunks) * VEC;
  var w = Walk(i0 * index_stride(params.rank - 1u), i0 * dense_stride(params.rank - 1u), i0 * target_stride(params.rank - 1u), i0);
  // Outer dims rank-2 .. 1 by div/mod; dim 0 takes the rest, which is below shape[0] since t < threads.
  var rest = row;
  for (var j = 2u; j < params.rank; j++) {
    let k = params.rank - j;
    let n = shape_at(k);
    let q = rest / n;
    let c = rest - q * n;
    rest = q;
    w.at_index += c * index_stride(k);
    w.at_dense += c * dense_stride(k);
    w.at_target += c * target_stride(k);
  }
  if (params.rank > 1u) {
    w.at_index += rest * index_stride(0u);
    w.at_dense += rest * dense_stride(0u);
    w.at_target += rest * target_stride(0u);
  }
  return w;
}

// Whether k is outside [0, axis_size). An out-of-range index never reads or writes out of bounds: gather yields 0
// for it and the scatters skip it. This is where a GPU error flag for out-of-range indices would be set.
fn bad_index(k: i32) -> bool {
  return k < 0 || u32(k) >= params.axis_size;
}
