// dx[n, g*Cg + c, ih, iw] = sum_{o,kh,kw} gy[n, g*Og + o, oh, ow] * w[g*Og + o, c, kh, kw] over the taps with
// ih = oh*sh - ph + kh*dh and iw = ow*sw - pw + kw*dw: the input gradient of conv2d as a workgroup-tiled implicit
// GEMM in gather form (lib/gemm_tiled.wgsl), for GPUs. Rows are the group's Cg input channels, columns the input
// pixels of one stride phase, the reduction runs over k = (o, the phase's taps).
// Layout: gy NCHW [N, O, OH, OW], w OIHW [O, Cg, KH, KW], dx NCHW [N, C, H, W].
// Bindings: gy, w (read, f32), dx (read_write, f32), params.
// Grid: x = pixel tiles of BN (of the largest phase), y = channel tiles of BM, z = group * sh*sw + phase.
//
// Stride phases, as in conv2d_dx.wgsl: input pixels are split by (ih mod sh, iw mod sw) and a workgroup takes one
// phase, in which only the taps kh with (ih + ph - kh*dh) divisible by sh reach an output pixel, every sh/gcd(sh, dh)-th
// one from the first: the reduction enumerates those alone (with stride 2, a quarter of the taps), and is empty
// for a phase no tap reaches (its dx is 0). A is the transposed weight, fetched as four channels at one k.
// A thread's pixels are decoded once, as in conv2d_fwd_tiled.wgsl.
//!include lib/gemm_tiled.wgsl
//!include lib/conv_pixels.wgsl

struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32, Cg: u32, Og: u32,
}

@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// The taps of one axis that reach a phase: first, step between them, count (0: none).
struct Taps { first: u32, step: u32, count: u32 }

// Taps k in [0, size) with (p + pad - k*dil) divisible by s: they repeat every s/gcd(s, dil) taps, so the first
// is among the first `step` ones.
fn phase_taps(p: u32, pad: u32, dil: u32, s: u32, size: u32) -> Taps {
  var step = 1u;
  while ((step * dil) % s != 0u) { step++; }
  for (var k = 0u; k < min(step, size); k++) {
    if ((p + pad + s * size * dil - k * dil) % s == 0u) { return Taps(k, step, (size - k + step - 1u) / step); }
  }
  return Taps(0u, step, 0u);
}

// This thread's pixels of the phase grid: their image's gy offset (at the group's first channel), their (i, j) in
// the grid, and whether they exist.
struct Pixels { gb: vec4<u32>, i: vec4<i32>, j: vec4<i32>, ok: vec4<bool> }

struct Phase { py: u32, px: u32, th: Taps, tw: Taps }

// Tap k of the phase as (o, kh, kw).
fn tap_of(k: u32, ph: Phase) -> vec3<u32> {
  let T = ph.th.count * ph.tw.count;
  let r = k % T;
  return vec3<u32>(k / T, ph.th.first + (r / ph.tw.count) * ph.th.step, ph.tw.first + (r % ph.tw.count) * ph.tw.step);
}

// Four channels c..c+3 of the transposed weight at k, in group grp.
fn fetch_a(k: u32, c: u32, grp: u32, K: u32, ph: Phase) -> vec4<f32> {
  if (k >= K) { return vec4<f32>(0.0); }
  let t = tap_of(k, ph);
  let KHW = params.KH * params.KW;
  let Cg = params.Cg;
  let idx = ((grp * params.Og + t.x) * Cg + c) * KHW + t.y * params.KW + t.z;
  var v = vec4<f32>(0.0);
  for (var u = 0u; u < 4u; u++) { if (c + u < Cg) { v[u] = w[idx + u * KHW]; } }
  return v;
}

fn fetch_b(k: u32, px: Pixels, K: u32, ph: Phase) -> vec4<f32> {
  if (k >= K) { return vec4<f32>(0.0); }
  let t = tap_of(k, ph);
  // oh*sh = ih + ph - kh*dh = sh*i + (py + ph - kh*dh), the last term a multiple of sh for the phase's taps.
  let oh = px.i + (i32(ph.py + params.ph) - i32(t.y * params.dh)) / i32(params.sh);
  let ow = px.j + (i32(ph.px + params.pw) - i32(t.z * params.dw)) / i32(params.sw);
  let ok = px.ok & inside(oh, ow, params.OH, params.OW);
  let o = pixel_offsets(px.gb + vec4<u32>(t.x * params.OH * params.OW), oh, ow, params.OW, ok);
  return select(vec4<f32>(0.0), vec4<f32>(gy[o.x], gy[o.y], gy[o.z], gy[o.w]), ok);
}

fn fetch(pa: ptr<function, Fetched>, pb: ptr<function, Fetched>, tid: u32, k0: u32, m0: u32, grp: u32, K: u32, px: Pixels, ph: Phase) {
  for (var q = 0u; q < LA; q++) {
    let e = q * NT + tid;
    if (e < GA) { (*pa)[q] = fetch_a(k0 + e / (BM / 4u), m0 + 4u * (e % (BM / 4u)), grp, K, ph); }
  }
  for (var q = 0u; q < LB; q++) {
    let e = q * NT + tid;
    if (e < GB) { (*pb)[q] = fetch_b(k0 + e / (BN / 4u), px, K, ph); }
  }
}

fn stage(pa: ptr<function, Fetched>, pb: ptr<function, Fetched>, tid: u32) {
  for (var q = 0u; q < LA; q++) {
    let e = q * NT + tid;
    if (e < GA) { put_a_m4(e / (BM / 4u), 4u * (e % (BM / 4u)), (*pa)[q]); }
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
  let phases = params.sh * params.sw;
  let grp = wid.z / phases;
  let py = (wid.z % phases) / params.sw;
  let px_ = (wid.z % phases) % params.sw;
  // This phase's input pixels: ih = py + sh*i for i < Hp, iw = px + sw*j for j < Wp.
  let Hp = select(0u, (params.H - py + params.sh - 1u) / params.sh, py < params.H);
  let Wp = select(0u, (params.W - px_ + params.sw - 1u) / params.sw, px_ < params.W);
  let PP = Hp * Wp;
  let NPP = params.N * PP;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  if (n0 >= NPP) { return; }
  let ph = Phase(py, px_, phase_taps(py, params.ph, params.dh, params.sh, params.KH), phase_taps(px_, params.pw, params.dw, params.sw, params.KW));
  let K = params.Og * ph.th.count * ph.tw.count;
  let OP = params.OH * params.OW;

  let p = vec4<u32>(n0 + 4u * (tid % (BN / 4u))) + vec4<u32>(0u, 1u, 2u, 3u);
  let q = min(p, vec4<u32>(NPP - 1u)) % PP;
  let px = Pixels(
    (min(p, vec4<u32>(NPP - 1u)) / PP) * (params.O * OP) + grp * params.Og * OP,
    vec4<i32>(q / Wp), vec4<i32>(q % Wp), p < vec4<u32>(NPP));

  let steps = (K + BK - 1u) / BK;
  var pa: Fetched;
  var pb: Fetched;
  var acc: Acc;
  fetch(&pa, &pb, tid, 0u, m0, grp, K, px, ph);
  stage(&pa, &pb, tid);
  workgroupBarrier();
  for (var s = 0u; s < steps; s++) {
    let more = s + 1u < steps;
    if (more) { fetch(&pa, &pb, tid, (s + 1u) * BK, m0, grp, K, px, ph); }
    tile_mac(&acc, tx, ty);
    workgroupBarrier();
    if (more) { stage(&pa, &pb, tid); }
    workgroupBarrier();
  }

  let HW = params.H * params.W;
  var xb: array<vec4<u32>, MAX_TN4>;
  for (var j = 0u; j < TN4; j++) {
    let c = min(vec4<u32>(n0 + tile_col(j, tx)) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(NPP - 1u));
    let r = c % PP;
    xb[j] = (c / PP) * (params.C * HW) + (py + params.sh * (r / Wp)) * params.W + px_ + params.sw * (r % Wp);
  }
  for (var i = 0u; i < TM; i++) {
    let c = m0 + tile_row(i, ty);
    if (c >= params.Cg) { continue; }
    let off = (grp * params.Cg + c) * HW;
    for (var j = 0u; j < TN4; j++) {
      let col = n0 + tile_col(j, tx);
      for (var t = 0u; t < 4u; t++) {
        if (col + t < NPP) { dx[xb[j][t] + off] = acc[i][j][t]; }
      }
    }
  }
}
