// Scatter along an axis (scatter, index_copy, and the gradients of gather-like ops): for every coordinate c of the
// indexed view (lib/indexed.wgsl), out[c . target_strides + k * axis_stride] = src[c . dense_strides] with
// k = index[c . index_strides]; 32-bit words, so any dtype. out already holds the values not overwritten (the
// wrapper copies them first). An out-of-range k is skipped (bad_index).
// WINNER: only the index position that claimed the target (scatter_claim.wgsl; win[key] == c . index_strides)
// writes, so duplicates resolve to their last occurrence whatever the thread order. key is k (KEY_BY_INDEX) or
// the target offset. Without WINNER, duplicate targets get one of their values, unspecified which.
// ZERO: writes 0 instead of src (zeroing the overwritten positions of a gradient; src is not read).
// Bindings: src (read, u32), index (read, i32), win (read, i32; only read with WINNER), out (read_write, u32),
// params. Threads = rows * chunks.
//!include lib/grid.wgsl
//!include lib/indexed.wgsl
const WG: u32 = 256u;
override WINNER: bool = false;
override KEY_BY_INDEX: bool = false;
override ZERO: bool = false;

@group(0) @binding(0) var<storage, read> src: array<u32>;
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
    if (bad_index(k)) { continue; }
    let dst = w.at_target + v * ts + u32(k) * params.axis_stride;
    if (WINNER && win[select(dst, u32(k), KEY_BY_INDEX)] != i32(ii)) { continue; }
    if (ZERO) { out[dst] = 0u; } else { out[dst] = src[w.at_dense + v * ds]; }
  }
}
