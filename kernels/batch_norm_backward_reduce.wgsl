// Batch-norm backward, per-channel sums over N, H, W of x, g [N, C, H, W]:
// sum_g_c = sum g (= d beta), sum_gxhat_c = sum g * xhat with xhat = (x - mean_c) / sqrt(var_c + eps) (= d gamma).
// mean/variance as in batch_norm_apply.wgsl (SHIFTED: the pair [s, d] of batch_norm_stats.wgsl).
// Bindings: x, g, mean, variance (read), sum_g, sum_gxhat (write, [C]), params {C, HW, M, eps}.
// One workgroup per channel (workgroup x = c): strided loops, then a tree in workgroup memory.
override SHIFTED: bool = false;
const WG: u32 = 256u;

struct Params { C: u32, HW: u32, M: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read_write> sum_g: array<f32>;
@group(0) @binding(5) var<storage, read_write> sum_gxhat: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> red: array<vec2<f32>, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let t = lid.x;
  let m = mean[c];
  let d = select(0.0, mean[params.C + c], SHIFTED);
  var acc = vec2<f32>(0.0);
  for (var k = t; k < params.M; k += WG) {
    let n = k / params.HW;
    let i = (n * params.C + c) * params.HW + (k - n * params.HW);
    let gv = g[i];
    acc += vec2<f32>(gv, gv * ((x[i] - m) - d));
  }
  red[t] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { red[t] = red[t] + red[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    sum_g[c] = red[0].x;
    sum_gxhat[c] = red[0].y / sqrt(variance[c] + params.eps);
  }
}
