// y[r] = reduce(x[r*len .. (r+1)*len]) * scale over contiguous rows, for OP in {0 sum, 1 max, 2 min, 3 argmax,
// 4 argmin}; max/min propagate NaN and argmax/argmin keep the first extreme index, as PyTorch.
// Bindings: x (read, f32), y (write, u32 words: f32 bits, or the index), params {rows, len, scale}.
// One workgroup per row: strided partial results per thread, then a tree in workgroup memory.
//!include lib/grid.wgsl
//!include lib/nan.wgsl
override OP: u32 = 0u;
const WG: u32 = 128u;

struct Params { rows: u32, len: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> vals: array<f32, WG>;
var<workgroup> idxs: array<u32, WG>;

// Does (v, i) win over (w, j)? NaN wins; ties go to the smaller index.
fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  if (is_nan(w)) { return false; }
  if (is_nan(v)) { return true; }
  let strict = select((v < w), (v > w), OP == 1u || OP == 3u);
  return strict || (v == w && i < j);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = flat_id(wid, nwg);
  let t = lid.x;
  let valid = row < params.rows;
  let base = row * params.len;
  var acc: f32 = 0.0;
  var idx: u32 = 0xffffffffu;
  if (OP != 0u) { acc = select(bitcast<f32>(0x7f7fffffu), bitcast<f32>(0xff7fffffu), OP == 1u || OP == 3u); }
  if (valid) {
    for (var k = t; k < params.len; k += WG) {
      let v = x[base + k];
      if (OP == 0u) { acc += v; }
      else if (idx == 0xffffffffu || better(v, k, acc, idx)) { acc = v; idx = k; }
    }
  }
  vals[t] = acc;
  idxs[t] = idx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      let v = vals[t + s];
      let j = idxs[t + s];
      if (OP == 0u) { vals[t] = vals[t] + v; }
      else if (j != 0xffffffffu && (idxs[t] == 0xffffffffu || better(v, j, vals[t], idxs[t]))) { vals[t] = v; idxs[t] = j; }
    }
    workgroupBarrier();
  }
  if (t == 0u && valid) {
    if (OP >= 3u) { y[row] = idxs[0]; } else { y[row] = bitcast<u32>(vals[0] * params.scale); }
  }
}
