// part[s, g*Og + o, c, kh, kw] = sum over the output pixels (n, oh, ow) of chunk s of
//   gy[n, g*Og + o, oh, ow] * x[n, g*Cg + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]:
// the weight gradient of conv2d as a workgroup-tiled GEMM with split-K (lib/gemm_tiled.wgsl), for GPUs. Rows are
// the group's Og output channels, columns the filter taps (c, kh, kw) in the weight's order, the reduction runs
// over the chunk's output pixels r = n*OH*OW + oh*OW + ow, rows_per output rows (n, oh) each; every chunk writes
// its own partial sums, which conv2d_dw_reduce.wgsl adds in a fixed order (deterministic, no float atomics). With
// one chunk, part is dw itself.
// Layout: x NCHW [N, C, H, W], gy NCHW [N, O, OH, OW], part [chunks, O, Cg, KH, KW].
// Bindings: x, gy (read, f32), part (read_write, f32), params, gy4 (read, gy viewed as vec4<f32>; read only
// when VEC_A: OH*OW and the chunk's pixels multiples of 4, so four pixels are one aligned vec4 of one image).
// Grid: x = tap tiles of BN, y = channel tiles of BM, z = group * chunks + chunk.
//
// A thread fetches B as four consecutive taps at one pixel: its taps are the same at every step (decoded once,
// as the pixels of conv2d_fwd_tiled.wgsl), the pixel's (n, oh, ow) is decoded once for the four.
//!include lib/gemm_tiled.wgsl
//!include lib/conv_pixels.wgsl
override VEC_A: bool = false;

struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32, Cg: u32, Og: u32, chunks: u32, rows_per: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> gy4: array<vec4<f32>>;

// This thread's taps: the offset of their channel in an image of x (at the group's first channel), their
// vertical and horizontal offsets from a pixel's window origin, and whether they exist.
struct Taps { xc: vec4<u32>, dy: vec4<i32>, dx: vec4<i32>, ok: vec4<bool> }

// gy at pixels r..r+3 (r < r1, the chunk's end) of channel oc.
fn fetch_a(r: u32, o: u32, grp: u32, r1: u32) -> vec4<f32> {
  if (o >= params.Og || r >= r1) { return vec4<f32>(0.0); }
  let OP = params.OH * params.OW;
  let oc = grp * params.Og + o;
  if (VEC_A) { return gy4[((r / OP) * params.O * OP + oc * OP + r % OP) / 4u]; }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    let rr = r + t;
    if (rr < r1) { v[t] = gy[(rr / OP) * params.O * OP + oc * OP + rr % OP]; }
  }
  return v;
}

fn fetch_b(r: u32, tp: Taps, r1: u32) -> vec4<f32> {
  if (r >= r1) { return vec4<f32>(0.0); }
  let OP = params.OH * params.OW;
  let n = r / OP;
  let pix = r % OP;
  let ih = vec4<i32>(i32((pix / params.OW) * params.sh)) + tp.dy;
  let iw = vec4<i32>(i32((pix % params.OW) * params.sw)) + tp.dx;
  let ok = tp.ok & inside(ih, iw, params.H, params.W);
  let o = pixel_offsets(vec4<u32>(n * params.C * params.H * params.W) + tp.xc, ih, iw, params.W, ok);
  return select(vec4<f32>(0.0), vec4<f32>(x[o.x], x[o.y], x[o.z], x[o.w]), ok);
}

fn fetch(pa: ptr<function, Fetched>, pb: ptr<function, Fetched>, tid: u32, k0: u32, m0: u32, grp: u32, r1: u32, tp: Taps) {
  for (var q = 0u; q < LA; q++) {
    let e = q * NT + tid;
    if (e < GA) { (*pa)[q] = fetch_a(k0 + 4u * (e % (BK / 4u)), m0 + e / (BK / 4u), grp, r1); }
  }
  for (var q = 0u; q < LB; q++) {
    let e = q * NT + tid;
    if (e < GB) { (*pb)[q] = fetch_b(k0 + e / (BN / 4u), tp, r1); }
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
  let grp = wid.z / params.chunks;
  let chunk = wid.z % params.chunks;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let KHW = params.KH * params.KW;
  let NQ = params.Cg * KHW;
  let HW = params.H * params.W;
  let r0 = chunk * params.rows_per * params.OW;
  let r1 = min(r0 + params.rows_per * params.OW, params.N * params.OH * params.OW);

  let qv = vec4<u32>(n0 + 4u * (tid % (BN / 4u))) + vec4<u32>(0u, 1u, 2u, 3u);
  let q = min(qv, vec4<u32>(NQ - 1u));
  let tap = q % KHW;
  let tp = Taps(
    (vec4<u32>(grp * params.Cg) + q / KHW) * HW,
    vec4<i32>((tap / params.KW) * params.dh) - i32(params.ph),
    vec4<i32>((tap % params.KW) * params.dw) - i32(params.pw),
    qv < vec4<u32>(NQ));

  let steps = (r1 - r0 + BK - 1u) / BK;
  var pa: Fetched;
  var pb: Fetched;
  var acc: Acc;
  fetch(&pa, &pb, tid, r0, m0, grp, r1, tp);
  stage(&pa, &pb, tid);
  workgroupBarrier();
  for (var s = 0u; s < steps; s++) {
    let more = s + 1u < steps;
    if (more) { fetch(&pa, &pb, tid, r0 + (s + 1u) * BK, m0, grp, r1, tp); }
    tile_mac(&acc, tx, ty);
    workgroupBarrier();
    if (more) { stage(&pa, &pb, tid); }
    workgroupBarrier();
  }

  let base = chunk * (params.O * NQ);
  for (var i = 0u; i < TM; i++) {
    let o = m0 + tile_row(i, ty);
    if (o >= params.Og) { continue; }
    let off = base + (grp * params.Og + o) * NQ;
    for (var j = 0u; j < TN4; j++) {
      let col = n0 + tile_col(j, tx);
      for (var t = 0u; t < 4u; t++) {
        if (col + t < NQ) { part[off + col + t] = acc[i][j][t]; }
      }
    }
  }
}
