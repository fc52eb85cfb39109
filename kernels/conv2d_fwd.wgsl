// y[n,o,oh,ow] = act(bias[o] + sum_{c,kh,kw} x[n, g*Cg + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * w[o,c,kh,kw]),
// g = o / Og: conv2d forward as an implicit GEMM per group. Rows are the group's Og output channels, columns
// the N*OH*OW output pixels, the reduction runs over (kh, kw, c); input pixels are gathered on the fly and
// read as zero outside the image (padding).
// Layout: x NCHW [N, C, H, W], w OIHW [O, Cg, KH, KW], bias [O] (read only when HAS_BIAS), y NCHW [N, O, OH, OW].
// Bindings: x, w, bias (read, f32), y (write, f32), params.
// Grid: x = pixel tiles of 8*4*COLS4 (folded into z past 65535), y = channel tiles of 8*ROWS,
// z = group + zgroups * fold.
//
// The same core as matmul.wgsl: each thread keeps ROWS channels x 4*COLS4 pixels in registers and reads the
// operands straight from global memory (8x8 threads). On lavapipe every buffer load is a bounds-checked
// scalar load per SIMD lane while the multiply-adds run 8 lanes wide, so loads per step (ROWS + 4*COLS4)
// against multiply-adds (ROWS * 4*COLS4) set the speed and the block is as large as registers allow.
// (kh, kw) is the outer loop so that gather offsets and padding masks are computed once per tap; the channel
// loop inside only advances offsets (unrolling it by 4, as matmul does, measured no faster here and slower
// for small blocks). Rows and pixels past the edge are clamped in bounds and dropped at the write, so the
// loops have no edge branches. The block, the params, the grid decoding and the padding mask are
// lib/conv_gather.wgsl's (shared with conv2d_dx.wgsl).
// ACT: 0 none, 1 relu (NaN propagates, as torch.relu).
//!include lib/conv_gather.wgsl
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let grp = grid_group(wid);
  let tile = grid_x(wid, nwg);
  let P = params.OH * params.OW;
  let NP = params.N * P;
  let Og = params.Og;
  let row0 = (wid.y * WY + lid.y) * ROWS;
  let col0 = (tile * WX + lid.x) * 4u * COLS4;
  if (row0 >= Og || col0 >= NP) { return; }
  let HW = params.H * params.W;
  let KHW = params.KH * params.KW;
  let Cg = params.Cg;

  // Per pixel: its image's x offset, the top-left input position of its window, its y offset.
  var xb: array<vec4<u32>, MAX_COLS4>;
  var ihb: array<vec4<i32>, MAX_COLS4>;
  var iwb: array<vec4<i32>, MAX_COLS4>;
  var yb: array<vec4<u32>, MAX_COLS4>;
  for (var j = 0u; j < COLS4; j++) {
    let q = block_cols(col0, j, NP);
    let n = q / P;
    let p = q % P;
    xb[j] = n * (params.C * HW) + grp * Cg * HW;
    ihb[j] = vec4<i32>((p / params.OW) * params.sh) - i32(params.ph);
    iwb[j] = vec4<i32>((p % params.OW) * params.sw) - i32(params.pw);
    yb[j] = n * (params.O * P) + p;
  }
  var wr: array<u32, MAX_ROWS>;
  for (var i = 0u; i < ROWS; i++) { wr[i] = (grp * Og + min(row0 + i, Og - 1u)) * (Cg * KHW); }

  var acc: array<array<vec4<f32>, MAX_COLS4>, MAX_ROWS>;
  for (var kh = 0u; kh < params.KH; kh++) {
    for (var kw = 0u; kw < params.KW; kw++) {
      var xo: array<vec4<u32>, MAX_COLS4>;
      var ok: array<vec4<bool>, MAX_COLS4>;
      var any_ok = false;
      for (var j = 0u; j < COLS4; j++) {
        let ih = ihb[j] + i32(kh * params.dh);
        let iw = iwb[j] + i32(kw * params.dw);
        ok[j] = inside(ih, iw, params.H, params.W);
        xo[j] = pixel_offsets(xb[j], ih, iw, params.W, ok[j]);
        any_ok = any_ok || any(ok[j]);
      }
      if (!any_ok) { continue; }
      let tap = kh * params.KW + kw;
      for (var c = 0u; c < Cg; c++) {
        var xv: array<vec4<f32>, MAX_COLS4>;
        for (var j = 0u; j < COLS4; j++) {
          let o = xo[j] + vec4<u32>(c * HW);
          xv[j] = select(vec4<f32>(0.0), vec4<f32>(x[o.x], x[o.y], x[o.z], x[o.w]), ok[j]);
        }
        for (var i = 0u; i < ROWS; i++) {
          let wv = vec4<f32>(w[wr[i] + c * KHW + tap]);
          for (var j = 0u; j < COLS4; j++) { acc[i][j] = fma(wv, xv[j], acc[i][j]); }
        }
      }
    }
  }

  for (var i = 0u; i < ROWS; i++) {
    if (row0 + i >= Og) { break; }
    let oc = grp * Og + row0 + i;
    for (var j = 0u; j < COLS4; j++) {
      var v = acc[i][j];
      if (HAS_BIAS) { v += vec4<f32>(bias[oc]); }
      if (ACT == 1u) { v = select(v, vec4<f32>(0.0), v < vec4<f32>(0.0)); }
      for (var t = 0u; t < 4u; t++) {
        if (col0 + 4u * j + t < NP) { y[yb[j][t] + oc * P] = v[t]; }
      }
    }
  }
}
