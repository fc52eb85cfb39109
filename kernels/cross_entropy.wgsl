// Cross-entropy with PyTorch's label smoothing ls over rows of logits z [N, K] with int32 labels [N]:
// target t = (1 - ls) onehot(label) + ls / K, loss = logsumexp(z) - sum_j t_j z_j, computed max-subtracted as
// log s - (1 - ls)(z_label - m) - ls (mean_j z_j - m), with (m, s) the row's online log-sum-exp.
// MODE 0: y[r] = loss of row r.
// MODE 1: y[r, j] = gscale * g[r * g_stride] * (softmax(z_r)_j - t_j), the gradient rows; the row's m and s
// are recomputed here rather than saved (one more read of the row instead of an N x K buffer kept alive).
// A label outside [0, K) makes its row NaN and is reported through range_errors (lib/range_check.wgsl), so
// the next read throws naming it, as PyTorch raises.
// Bindings: z (read, f32), labels (read, i32), g (read, f32: the upstream gradient in MODE 1, any buffer in
// MODE 0), y (write, f32), params {rows, len, smoothing, gscale, g_stride}, range_errors (bound by the
// device). TEAM threads per row as in softmax.wgsl (lib/row_reduce.wgsl); 1-D grid folded into 2-D.
//!include lib/nan.wgsl
//!include lib/range_check.wgsl
//!include lib/stable.wgsl
//!include lib/row_reduce.wgsl
override MODE: u32 = 0u;

struct Params { rows: u32, len: u32, smoothing: f32, gscale: f32, g_stride: u32 }

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = team_row(wid, nwg, lid.x);
  let lane = lid.x % TEAM;
  let valid = row < params.rows;
  let len = params.len;
  let base = row * len;
  var acc = LSE_EMPTY;
  var zsum = 0.0;
  if (valid) {
    for (var j = lane; j < len; j += TEAM) {
      let v = z[base + j];
      acc = lse_push(acc, v);
      zsum += v;
    }
  }
  // (m, s, sum z, unused) per lane.
  let r = team_reduce(lid.x, vec4<f32>(acc, zsum, 0.0), LSE_SUM);
  if (!valid) { return; }
  let m = r.x;
  let s = r.y;
  let ls = params.smoothing;
  let lab = labels[row];
  let ok = in_range(lab, len);
  if (!ok && lane == 0u) { report_out_of_range(RANGE_LABEL, row, lab, len); }
  if (MODE == 0u) {
    if (lane != 0u) { return; }
    if (!ok) { y[row] = bitcast<f32>(NAN_BITS); return; }
    var loss = log(s) - (1.0 - ls) * (z[base + u32(lab)] - m);
    if (ls > 0.0) { loss -= ls * (r.z / f32(len) - m); }
    y[row] = loss;
  } else {
    let gs = params.gscale * g[row * params.g_stride];
    let floor_t = ls / f32(len);
    for (var j = lane; j < len; j += TEAM) {
      let t = floor_t + select(0.0, 1.0 - ls, ok && u32(lab) == j);
      let p = exp(z[base + j] - m) / s;
      y[base + j] = select(bitcast<f32>(NAN_BITS), gs * (p - t), ok);
    }
  }
}
