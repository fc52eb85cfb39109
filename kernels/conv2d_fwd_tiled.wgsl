// y[n,o,oh,ow] = act(bias[o] + sum_{c,kh,kw} x[n, g*Cg + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * w[o,c,kh,kw]),
// g = o / Og: conv2d forward as a workgroup-tiled implicit GEMM per group (lib/gemm_tiled.wgsl), for GPUs. Rows
// are the group's Og output channels, columns the N*OH*OW output pixels, the reduction runs over
// k = (c, kh, kw) in the weight's own order, so A is the weight matrix [Og, Cg*KH*KW] as stored; B is the
// im2col view of x, gathered on the fly (0 in the padding).
// Layout: x NCHW [N, C, H, W], w OIHW [O, Cg, KH, KW], bias [O] (read only when HAS_BIAS), y NCHW [N, O, OH, OW].
// Bindings: x, w, bias (read, f32), y (read_write, f32), params, w4 (read, w viewed as vec4<f32>; read only when
// VEC_A: Cg*KH*KW a multiple of 4).
// Grid: x = pixel tiles of BN, y = channel tiles of BM, z = group.
//
// A thread fetches B as four consecutive pixels at one k; the workgroup has a multiple of BN/4 threads, so a
// thread's pixels are the same at every step and are decoded once, before the reduction. The register-blocked
// conv2d_fwd.wgsl stays the kernel for lavapipe (see matmul_tiled.wgsl). ACT: 0 none, 1 relu.
//!include lib/gemm_tiled.wgsl
//!include lib/conv_pixels.wgsl
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;
override VEC_A: bool = false;

struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32, Cg: u32, Og: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read> w4: array<vec4<f32>>;

// The pixels this thread fetches for B: their image's offset into x (at the group's first channel), the top-left
// input position of their windows, and whether they exist.
struct Pixels { xb: vec4<u32>, ih: vec4<i32>, iw: vec4<i32>, ok: vec4<bool> }

fn fetch_a(k: u32, o: u32, wbase: u32, K: u32) -> vec4<f32> {
  if (o >= params.Og) { return vec4<f32>(0.0); }
  let idx = wbase + o * K + k;
  let n = select(0u, K - k, k < K);
  if (VEC_A) { return select(vec4<f32>(0.0), w4[select(0u, idx / 4u, n > 0u)], n > 0u); }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) { if (t < n) { v[t] = w[idx + t]; } }
  return v;
}

fn fetch_b(k: u32, px: Pixels, K: u32) -> vec4<f32> {
  if (k >= K) { return vec4<f32>(0.0); }
  let KHW = params.KH * params.KW;
  let c = k / KHW;
  let tap = k % KHW;
  let ih = px.ih + i32((tap / params.KW) * params.dh);
  let iw = px.iw + i32((tap % params.KW) * params.dw);
  let ok = px.ok & inside(ih, iw, params.H, params.W);
  let o = pixel_offsets(px.xb + vec4<u32>(c * params.H * params.W), ih, iw, params.W, ok);
  return select(vec4<f32>(0.0), vec4<f32>(x[o.x], x[o.y], x[o.z], x[o.w]), ok);
}

fn fetch(pa: ptr<function, Fetched>, pb: ptr<function, Fetched>, tid: u32, k0: u32, m0: u32, wbase: u32, K: u32, px: Pixels) {
  for (var q = 0u; q < LA; q++) {
    let e = q * NT + tid;
    if (e < GA) { (*pa)[q] = fetch_a(k0 + 4u * (e % (BK / 4u)), m0 + e / (BK / 4u), wbase, K); }
  }
  for (var q = 0u; q < LB; q++) {
    let e = q * NT + tid;
    if (e < GB) { (*pb)[q] = fetch_b(k0 + e / (BN / 4u), px, K); }
  }
}

fn stage(pa: ptr<function, Fetched>, pb: ptr<function, Fetched>, tid: u32) {
  for (var q = 0u; q < LA; q++) {
    let e = q * NT + tid;
    if (e < GA) { put_a_k4(4u * (e % (BK / 4u)), e / (BK / 4u), (*pa)[q]); }
  }
  for (var q = 0u; q < LB; q++) {
    let e = q * NT + tid;
    if (e < GB) { put_b_n4(e / (BN / 4u), 4u * (e % (BN / 4u)), (*pb)[q]); }
  }
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let tx = tid % TX;
  let ty = tid / TX;
  let grp = wid.z;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let P = params.OH * params.OW;
  let NP = params.N * P;
  let HW = params.H * params.W;
  let K = params.Cg * params.KH * params.KW;
  let wbase = grp * params.Og * K;

  let p = vec4<u32>(n0 + 4u * (tid % (BN / 4u))) + vec4<u32>(0u, 1u, 2u, 3u);
  let q = min(p, vec4<u32>(NP - 1u));
  let pp = q % P;
  let px = Pixels(
    (q / P) * (params.C * HW) + grp * params.Cg * HW,
    vec4<i32>((pp / params.OW) * params.sh) - i32(params.ph),
    vec4<i32>((pp % params.OW) * params.sw) - i32(params.pw),
    p < vec4<u32>(NP));

  let steps = (K + BK - 1u) / BK;
  var pa: Fetched;
  var pb: Fetched;
  var acc: Acc;
  fetch(&pa, &pb, tid, 0u, m0, wbase, K, px);
  stage(&pa, &pb, tid);
  workgroupBarrier();
  for (var s = 0u; s < steps; s++) {
    let more = s + 1u < steps;
    if (more) { fetch(&pa, &pb, tid, (s + 1u) * BK, m0, wbase, K, px); }
    tile_mac(&acc, tx, ty);
    workgroupBarrier();
    if (more) { stage(&pa, &pb, tid); }
    workgroupBarrier();
  }

  // Each column's y offset (at channel 0), decoded once for all rows.
  var yb: array<vec4<u32>, MAX_TN4>;
  for (var j = 0u; j < TN4; j++) {
    let c = min(vec4<u32>(n0 + tile_col(j, tx)) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(NP - 1u));
    yb[j] = (c / P) * (params.O * P) + c % P;
  }
  for (var i = 0u; i < TM; i++) {
    let o = m0 + tile_row(i, ty);
    if (o >= params.Og) { continue; }
    let oc = grp * params.Og + o;
    for (var j = 0u; j < TN4; j++) {
      var v = acc[i][j];
      if (HAS_BIAS) { v += vec4<f32>(bias[oc]); }
      if (ACT == 1u) { v = select(v, vec4<f32>(0.0), v < vec4<f32>(0.0)); }
      let col = n0 + tile_col(j, tx);
      for (var t = 0u; t < 4u; t++) {
        if (col + t < NP) { y[yb[j][t] + oc * P] = v[t]; }
      }
    }
  }
}
