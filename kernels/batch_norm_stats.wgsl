// Per-channel batch statistics of x [N, C, H, W] over N, H, W (M = N*H*W values per channel), two-pass and
// shifted: s = x[n=0, c, 0, 0], d = mean(x - s), v = mean((x - s - d)^2). The mean is kept as the pair
// (s, d) because s + d rounded to float32 can be off by half an ulp of the mean, which is a large error
// against a small standard deviation (channel values 1000 + 1e-3 noise); x - s is exact for such channels.
// mean = [s_0..s_{C-1}, d_0..d_{C-1}], variance = the biased variance v [C].
// UPDATE: also running_mean = (1-m) running_mean + m (s + d), running_var = (1-m) running_var + m M v/(M-1)
// (PyTorch's momentum update with the unbiased variance).
// Bindings: x (read), mean (write, [2C]), variance (write, [C]), running_mean, running_var (read_write, [C];
// untouched unless UPDATE), params {C, HW, M, momentum}. One workgroup per channel (workgroup x = c):
// strided loops over the channel's M values, then a tree in workgroup memory (lib/workgroup_sum.wgsl).
override UPDATE: bool = false;
const WG: u32 = 256u;
//!include lib/workgroup_sum.wgsl

struct Params { C: u32, HW: u32, M: u32, momentum: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> variance: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

fn at(c: u32, k: u32) -> u32 {
  let n = k / params.HW;
  return (n * params.C + c) * params.HW + (k - n * params.HW);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let t = lid.x;
  let M = params.M;
  let s = x[c * params.HW];
  var acc = 0.0;
  for (var k = t; k < M; k += WG) { acc += x[at(c, k)] - s; }
  let d = wg_sum(t, acc) / f32(M);
  acc = 0.0;
  for (var k = t; k < M; k += WG) {
    let u = (x[at(c, k)] - s) - d;
    acc += u * u;
  }
  let ss = wg_sum(t, acc);
  if (t == 0u) {
    mean[c] = s;
    mean[params.C + c] = d;
    variance[c] = ss / f32(M);
    if (UPDATE) {
      let m = params.momentum;
      running_mean[c] = (1.0 - m) * running_mean[c] + m * (s + d);
      running_var[c] = (1.0 - m) * running_var[c] + m * (ss / f32(M - 1u));
    }
  }
}
