// Batch-norm backward, d x elementwise over [N, C, H, W], with rstd_c = 1 / sqrt(var_c + eps):
// TRAIN (batch statistics, differentiated through them; mean is the pair [s, d] of batch_norm_stats.wgsl):
//   dx = gamma_c rstd_c (g - (sum_g_c + xhat sum_gxhat_c) / M),  xhat = ((x - s_c) - d_c) rstd_c;
// otherwise (running statistics, a fixed affine map): dx = g gamma_c rstd_c, and x, mean, sum_g, sum_gxhat
// are not read (the wrapper binds any read-only buffer there).
// Bindings: x, g, mean, variance, gamma, sum_g, sum_gxhat (read), dx (write), params {n, C, HW, M, eps}.
// One element per thread; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
override TRAIN: bool = false;
const WG: u32 = 256u;

struct Params { n: u32, C: u32, HW: u32, M: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> sum_g: array<f32>;
@group(0) @binding(6) var<storage, read> sum_gxhat: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let c = (i / params.HW) % params.C;
  let rstd = 1.0 / sqrt(variance[c] + params.eps);
  if (TRAIN) {
    let xhat = ((x[i] - mean[c]) - mean[params.C + c]) * rstd;
    dx[i] = gamma[c] * rstd * (g[i] - (sum_g[c] + xhat * sum_gxhat[c]) / f32(params.M));
  } else {
    dx[i] = g[i] * (gamma[c] * rstd);
  }
}
