// dx[n, g*Cg + c, ih, iw] = sum_{o,kh,kw} gy[n, g*Og + o, oh, ow] * w[g*Og + o, c, kh, kw] over the taps with
// ih = oh*sh - ph + kh*dh and iw = ow*sw - pw + kw*dw: the input gradient of conv2d (a transposed conv) as an
// implicit GEMM in gather form, so each dx element is written once and no atomics are needed. Rows are the
// group's Cg input channels, columns the input pixels, the reduction runs over (kh, kw, o).
// Layout: gy NCHW [N, O, OH, OW], w OIHW [O, Cg, KH, KW], dx NCHW [N, C, H, W].
// Bindings: gy, w (read, f32), dx (write, f32), params.
// Grid: x = tile * sh*sw + phase, for pixel tiles of 8*4*COLS4 (folded into z past 65535), y = channel tiles
// of 8*ROWS, z = group + zgroups * fold.
//
// Stride phases: input pixels are split by (ih mod sh, iw mod sw) and each workgroup takes one phase, so whether a
// tap (kh, kw) reaches an output pixel is the same for the whole workgroup and the taps that never do are
// skipped outright (with stride 2, three quarters of the naive gather's taps).
// The core is conv2d_fwd.wgsl's (and matmul.wgsl's): ROWS channels x 4*COLS4 pixels of the phase per thread
// in registers, operands read from global memory, edge rows and pixels clamped and dropped at the write. The
// block, the params, the grid decoding and the padding mask are lib/conv_gather.wgsl's (shared with conv2d_fwd.wgsl).
//!include lib/conv_gather.wgsl

@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let grp = grid_group(wid);
  let flat = grid_x(wid, nwg);
  let phases = params.sh * params.sw;
  let tile = flat / phases;
  let py = (flat % phases) / params.sw;
  let px = (flat % phases) % params.sw;
  // This phase's input pixels: ih = py + sh*i for i < Hp, iw = px + sw*j for j < Wp.
  let Hp = select(0u, (params.H - py + params.sh - 1u) / params.sh, py < params.H);
  let Wp = select(0u, (params.W - px + params.sw - 1u) / params.sw, px < params.W);
  let PP = Hp * Wp;
  let NPP = params.N * PP;
  let Cg = params.Cg;
  let row0 = (wid.y * WY + lid.y) * ROWS;
  let col0 = (tile * WX + lid.x) * 4u * COLS4;
  if (row0 >= Cg || col0 >= NPP) { return; }
  let OP = params.OH * params.OW;
  let KHW = params.KH * params.KW;
  let Og = params.Og;
  let HW = params.H * params.W;

  // Per pixel: its image's gy offset, its (i, j) in the phase grid, its dx offset.
  var gb: array<vec4<u32>, MAX_COLS4>;
  var pi: array<vec4<i32>, MAX_COLS4>;
  var pj: array<vec4<i32>, MAX_COLS4>;
  var xb: array<vec4<u32>, MAX_COLS4>;
  for (var j = 0u; j < COLS4; j++) {
    let q = block_cols(col0, j, NPP);
    let n = q / PP;
    let i0 = (q % PP) / Wp;
    let j0 = (q % PP) % Wp;
    gb[j] = n * (params.O * OP) + grp * Og * OP;
    pi[j] = vec4<i32>(i0);
    pj[j] = vec4<i32>(j0);
    xb[j] = n * (params.C * HW) + (py + params.sh * i0) * params.W + px + params.sw * j0;
  }
  var wr: array<u32, MAX_ROWS>;
  for (var i = 0u; i < ROWS; i++) { wr[i] = grp * Og * (Cg * KHW) + min(row0 + i, Cg - 1u) * KHW; }

  var acc: array<array<vec4<f32>, MAX_COLS4>, MAX_ROWS>;
  for (var kh = 0u; kh < params.KH; kh++) {
    // oh*sh = ih + ph - kh*dh = sh*i + th: a whole oh exists only when sh divides th (the same for the whole phase).
    let th = i32(py + params.ph) - i32(kh * params.dh);
    if (th % i32(params.sh) != 0) { continue; }
    for (var kw = 0u; kw < params.KW; kw++) {
      let tw = i32(px + params.pw) - i32(kw * params.dw);
      if (tw % i32(params.sw) != 0) { continue; }
      var go: array<vec4<u32>, MAX_COLS4>;
      var ok: array<vec4<bool>, MAX_COLS4>;
      var any_ok = false;
      for (var j = 0u; j < COLS4; j++) {
        let oh = pi[j] + th / i32(params.sh);
        let ow = pj[j] + tw / i32(params.sw);
        ok[j] = inside(oh, ow, params.OH, params.OW);
        go[j] = pixel_offsets(gb[j], oh, ow, params.OW, ok[j]);
        any_ok = any_ok || any(ok[j]);
      }
      if (!any_ok) { continue; }
      let tap = kh * params.KW + kw;
      for (var o = 0u; o < Og; o++) {
        var gv: array<vec4<f32>, MAX_COLS4>;
        for (var j = 0u; j < COLS4; j++) {
          let a = go[j] + vec4<u32>(o * OP);
          gv[j] = select(vec4<f32>(0.0), vec4<f32>(gy[a.x], gy[a.y], gy[a.z], gy[a.w]), ok[j]);
        }
        for (var i = 0u; i < ROWS; i++) {
          let wv = vec4<f32>(w[wr[i] + o * Cg * KHW + tap]);
          for (var j = 0u; j < COLS4; j++) { acc[i][j] = fma(wv, gv[j], acc[i][j]); }
        }
      }
    }
  }

  for (var i = 0u; i < ROWS; i++) {
    if (row0 + i >= Cg) { break; }
    let off = (grp * Cg + row0 + i) * HW;
    for (var j = 0u; j < COLS4; j++) {
      for (var t = 0u; t < 4u; t++) {
        if (col0 + 4u * j + t < NPP) { dx[xb[j][t] + off] = acc[i][j][t]; }
      }
    }
  }
}
