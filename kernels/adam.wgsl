// One Adam / AdamW step on one parameter tensor, in place, as PyTorch's torch.optim.Adam / AdamW (1.13,
// single-tensor path), with the bias corrections of this parameter's step t folded into two scalars:
//   DECOUPLED (AdamW): param = param * (1 - lr * wd);  else: g = grad + wd * param;
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g   (m = v = 0 before the first step);
//   AMSGRAD: vmax = max(vmax, v), used instead of v below;
//   param = param - step_size * m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t)
// (eps is added after the square root of the bias-corrected v, as PyTorch).
// GATED: the step happens only where gate[0] != 0 (a training step's finite flag, engine/health.ts).
// Bindings: param (read_write), grad (read), exp_avg, exp_avg_sq, max_exp_avg_sq (read_write; the last is any
// buffer when !AMSGRAD), gate (read; any buffer when !GATED), params. One element per thread.
//!include lib/grid.wgsl
override AMSGRAD: bool = false;
override DECOUPLED: bool = false;
override GATED: bool = false;
const WG: u32 = 256u;

struct Params {
  n: u32, first: u32, weight_decay: f32, decay: f32, beta1: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32,
  step_size: f32, bc2_sqrt: f32, eps: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(4) var<storage, read_write> max_exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read> gate: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  if (GATED && gate[0] == 0.0) { return; }
  var p = param[i];
  var g = grad[i];
  if (DECOUPLED) { p = p * params.decay; }
  else if (params.weight_decay != 0.0) { g = g + params.weight_decay * p; }
  // The state buffers are uninitialised before the first step; zero state gives exactly these values.
  var m = params.one_minus_beta1 * g;
  var v = params.one_minus_beta2 * g * g;
  if (params.first == 0u) {
    m = exp_avg[i] * params.beta1 + m;
    v = exp_avg_sq[i] * params.beta2 + v;
  }
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  if (AMSGRAD) {
    if (params.first == 0u) { v = max(max_exp_avg_sq[i], v); }
    max_exp_avg_sq[i] = v;
  }
  let denom = sqrt(v) / params.bc2_sqrt + params.eps;
  param[i] = p - params.step_size * (m / denom);
}
