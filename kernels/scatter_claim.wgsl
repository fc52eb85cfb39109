// The claim pass of an overwriting scatter with possible duplicate indices: for every coordinate c of the indexed
// view (lib/indexed.wgsl) with a valid k = index[c . index_strides], win[key] = max(win[key], c . index_strides),
// so each target ends up owned by the last index position naming it (deterministic, whatever the thread order;
// integer atomics). key is k (KEY_BY_INDEX: index_copy, one claim per position along the axis) or the target
// offset c . target_strides + k * axis_stride (scatter). win starts at -1 (no claim); scatter.wgsl and
// gather.wgsl with WINNER then let only the owner write. dense_strides are unused.
// Bindings: index (read, i32), win (read_write, atomic i32), params. Threads = rows * chunks.
//!include lib/grid.wgsl
//!include lib/indexed.wgsl
const WG: u32 = 256u;
override KEY_BY_INDEX: bool = false;

@group(0) @binding(0) var<storage, read> index: array<i32>;
@group(0) @binding(1) var<storage, read_write> win: array<atomic<i32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = flat_id(wid, nwg) * WG + lid.x;
  if (t >= params.threads) { return; }
  let w = walk_start(t);
  let inner = shape_at(params.rank - 1u);
  let is = index_stride(params.rank - 1u);
  let ts = target_stride(params.rank - 1u);
  // Along slices (index_select, index_copy: is == 0) one index serves all the thread's elements: loaded once.
  var k = index[w.at_index];
  for (var v = 0u; v < VEC; v++) {
    if (w.i0 + v >= inner) { break; }
    let ii = w.at_index + v * is;
    if (v > 0u && is != 0u) { k = index[ii]; }
    if (bad_index(k)) { continue; }
    let key = select(w.at_target + v * ts + u32(k) * params.axis_stride, u32(k), KEY_BY_INDEX);
    atomicMax(&win[key], i32(ii));
  }
}
