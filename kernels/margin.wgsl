// DLR (Croce & Hein 2020) per row of logits z [N, K] (K >= 3) with int32 labels y [N]:
//   dlr = -(z_y - z_o) / (z_(1) - z_(3) + 1e-12),  z_o = max_{j != y} z_j = (i1 == y ? z_(2) : z_(1)),
// z_(k) the k-th largest at index ik, ties ranked as a stable ascending sort does (the larger index ranks
// higher), which is what torch.sort gives Croce's code on rows this short. With RE (ReDLR, Bai et al. 2023) the
// loss is dlr where i1 == y (correctly classified) and 0 otherwise, with zero gradient there.
// MODE 0: y_out[r] = loss. MODE 1: y_out[r, :] = g[r] d loss / d z_r, the sorted positions held fixed:
//   -1/D at y, +1/D at o, +n/D^2 at i1, -n/D^2 at i3 (n = z_y - z_o, D the denominator), accumulated.
// A label outside [0, K) makes its row NaN and is reported through range_errors (lib/range_check.wgsl): the
// next read throws naming it.
// Bindings: z (read, f32), labels (read, i32), g (read, f32: upstream gradient [N] in MODE 1, any buffer
// otherwise), y_out (write, f32), params {rows, len}, range_errors (bound by the device). One thread per row.
//!include lib/grid.wgsl
//!include lib/range_check.wgsl
//!include lib/nan.wgsl
//!include lib/stable.wgsl
override MODE: u32 = 0u;
override RE: bool = false;
const WG: u32 = 64u;

struct Params { rows: u32, len: u32 }

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> y_out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = flat_id(wid, nwg) * WG + lid.x;
  if (row >= params.rows) { return; }
  let len = params.len;
  let base = row * len;
  let lab = labels[row];
  if (!in_range(lab, len)) {
    report_out_of_range(RANGE_LABEL, row, lab, len);
    if (MODE == 0u) { y_out[row] = bitcast<f32>(NAN_BITS); }
    else { for (var j = 0u; j < len; j++) { y_out[base + j] = bitcast<f32>(NAN_BITS); } }
    return;
  }
  let yl = u32(lab);
  // Top three by scanning in index order: >= lets a later equal value rank above an earlier one.
  var v1 = -F32_MAX; var v2 = -F32_MAX; var v3 = -F32_MAX;
  var i1 = 0u; var i2 = 0u; var i3 = 0u;
  for (var j = 0u; j < len; j++) {
    let v = z[base + j];
    if (v >= v1) { v3 = v2; i3 = i2; v2 = v1; i2 = i1; v1 = v; i1 = j; }
    else if (v >= v2) { v3 = v2; i3 = i2; v2 = v; i2 = j; }
    else if (v >= v3) { v3 = v; i3 = j; }
  }
  let io = select(i1, i2, i1 == yl);
  let n = z[base + yl] - z[base + io];
  let den = (v1 - v3) + 1e-12;
  let live = !RE || i1 == yl;
  if (MODE == 0u) {
    y_out[row] = select(0.0, -n / den, live);
    return;
  }
  if (!live) {
    for (var j = 0u; j < len; j++) { y_out[base + j] = 0.0; }
    return;
  }
  let gr = g[row];
  let inv = 1.0 / den;
  let nd2 = (n * inv) * inv;
  for (var j = 0u; j < len; j++) {
    var d = 0.0;
    if (j == yl) { d -= inv; }
    if (j == io) { d += inv; }
    if (j == i1) { d += nd2; }
    if (j == i3) { d -= nd2; }
    y_out[base + j] = gr * d;
  }
}
