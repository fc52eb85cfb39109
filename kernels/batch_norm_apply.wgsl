// Batch-norm forward, elementwise over x [N, C, H, W]: y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c.
// SHIFTED (batch statistics from batch_norm_stats.wgsl): mean is the pair [s (C), d (C)] and x - mean is
// computed as (x - s) - d; otherwise mean and var are [C] (the running statistics, eval mode).
// Bindings: x (read), mean, variance, gamma, beta (read), y (write), params {n, C, HW, eps}.
// One element per thread; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
override SHIFTED: bool = false;
const WG: u32 = 256u;

struct Params { n: u32, C: u32, HW: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let c = (i / params.HW) % params.C;
  var xc = x[i] - mean[c];
  if (SHIFTED) { xc = xc - mean[params.C + c]; }
  let rstd = 1.0 / sqrt(variance[c] + params.eps);
  y[i] = xc * (rstd * gamma[c]) + beta[c];
}
