// Softmax and log-softmax over rows, and their backward passes. A row is the softmax dim of a contiguous
// tensor [outer, len, inner]: row r has elements at (r / inner) * len * inner + r % inner + j * inner, j < len.
// OP 0: y = softmax(x) = e^(x-m) / s, with m the row max and s = sum e^(x-m) (online, never exp of a positive);
// OP 1: y = log_softmax(x) = (x - m) - log s;
// OP 2: y = x (g - sum(g x))  (softmax backward, x = the saved softmax output);
// OP 3: y = g - e^x sum(g)    (log_softmax backward, x = the saved log-softmax output).
// Bindings: x (read, f32), g (read, f32: the upstream gradient for OP 2/3, any buffer otherwise), y (write, f32),
// params {rows, len, inner}. TEAM threads share a row (strided loops, then a tree in workgroup memory),
// WG / TEAM rows per workgroup; 1-D grid folded into 2-D. The row teams and their tree are lib/row_reduce.wgsl,
// shared with cross_entropy.wgsl and kl.wgsl.
//!include lib/stable.wgsl
//!include lib/row_reduce.wgsl
override OP: u32 = 0u;

struct Params { rows: u32, len: u32, inner: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = team_row(wid, nwg, lid.x);
  let lane = lid.x % TEAM;
  let valid = row < params.rows;
  let len = params.len;
  let st = params.inner;
  let base = (row / st) * len * st + row % st;
  if (OP < 2u) {
    var acc = LSE_EMPTY;
    if (valid) {
      for (var j = lane; j < len; j += TEAM) { acc = lse_push(acc, x[base + j * st]); }
    }
    let r = team_reduce(lid.x, vec4<f32>(acc, 0.0, 0.0), LSE_SUM);
    if (valid) {
      let logs = log(r.y);
      for (var j = lane; j < len; j += TEAM) {
        let k = base + j * st;
        let v = x[k] - r.x;
        if (OP == 0u) { y[k] = exp(v) / r.y; } else { y[k] = v - logs; }
      }
    }
  } else {
    var acc = 0.0;
    if (valid) {
      for (var j = lane; j < len; j += TEAM) {
        let k = base + j * st;
        acc += select(g[k] * x[k], g[k], OP == 3u);
      }
    }
    let s = team_reduce(lid.x, vec4<f32>(acc, 0.0, 0.0, 0.0), SUM_SUM).x;
    if (valid) {
      for (var j = lane; j < len; j += TEAM) {
        let k = base + j * st;
        if (OP == 2u) { y[k] = x[k] * (g[k] - s); } else { y[k] = g[k] - exp(x[k]) * s; }
      }
    }
  }
}
