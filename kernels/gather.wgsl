// Gather along an axis (gather, index_select, and the src gradients of the scatters): for every coordinate c of
// the indexed view (lib/indexed.wgsl), out[c . dense_strides] = x[c . target_strides + k * axis_stride] with
// k = index[c . index_strides]; 32-bit words, so any dtype. An out-of-range k yields 0 (bad_index).
// WINNER (the src gradient of an overwriting scatter whose duplicates resolve to the last occurrence): out gets x's
// element only if win[key] == c . index_strides (the index position that claimed the target in
// scatter_claim.wgsl), else 0. key is k (KEY_BY_INDEX: one claim per position along the axis) or the
// target offset. Without WINNER, win is not read (bind any read-only buffer).
// Bindings: x (read, u32), index (read, i32), win (read, i32), out (write, u32), params. Threads = rows * chunks.
//!include lib/grid.wgsl
//!include lib/indexed.wgsl
const WG: u32 = 256u;
override WINNER: bool = false;
override KEY_BY_INDEX: bool = false;

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read> win: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = flat_id(wid, nwg) * WG + lid.x;
  if (t >= params.threads) { return; }
  let w = walk_start(t);
  let inner = shape_at(params.rank - 1u);
  let is = index_stride(params.rank - 1u);
  let ds = dense_stride(params.rank - 1u);
  let ts = target_stride(params.rank - 1u);
  // Along slices (index_select, index_copy: is == 0) one index serves all the thread's elements: loaded once.
  var k = index[w.at_index];
  for (var v = 0u; v < VEC; v++) {
    if (w.i0 + v >= inner) { break; }
    let ii = w.at_index + v * is;
    if (v > 0u && is != 0u) { k = index[ii]; }
    var word = 0u;
    if (!bad_index(k)) {
      let src = w.at_target + v * ts + u32(k) * params.axis_stride;
      let key = select(src, u32(k), KEY_BY_INDEX);
      if (!WINNER || win[key] == i32(ii)) { word = x[src]; }
    }
    out[w.at_dense + v * ds] = word;
  }
}
