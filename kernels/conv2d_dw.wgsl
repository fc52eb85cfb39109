// part[s, g*Og + o, c, kh, kw] = sum over the output pixels (n, oh, ow) of chunk s of
//   gy[n, g*Og + o, oh, ow] * x[n, g*Cg + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]:
// the weight gradient of conv2d as a GEMM with split-K. Rows are the group's Og output channels, columns the
// (kh, kw, c) filter taps, the reduction runs over the N*OH output rows (n, oh), cut into chunks of `rows_per`
// rows; each chunk writes its own partial sums and conv2d_dw_reduce.wgsl adds them in a fixed order
// (deterministic, no float atomics). With one chunk, part is dw itself.
// Layout: x NCHW [N, C, H, W], gy NCHW [N, O, OH, OW], part [chunks, O, Cg, KH, KW].
// Bindings: x, gy (read, f32), part (write, f32), params.
// Grid: x = tiles of WG thread blocks, z = group * chunks + chunk. Thread block t covers output channels
// ROWS*(t / NB) .. and column block b = t % NB, that is tap b / CB and input channels 4*COLS4*(b % CB) ..
// (NB = KH*KW*CB column blocks). Blocks are numbered linearly rather than on a 2-D thread grid because
// this GEMM is often narrow (a 1x1 conv over 16 channels has one column block): lanes go to blocks that exist.
//
// The core is conv2d_fwd.wgsl's (and matmul.wgsl's): ROWS output channels x 4*COLS4 columns per thread in
// registers, operands read from global memory. A thread's columns are input channels at one tap, so they
// share the gather offset and padding test, and the range of ow whose input column lies inside the image is
// computed once: the inner loop has no branches. ROWS, COLS4 and the array bounds are lib/conv_block.wgsl's.
//!include lib/conv_block.wgsl
const WG: u32 = 64u;

struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32, Cg: u32, Og: u32, chunks: u32, rows_per: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let grp = wid.z / params.chunks;
  let chunk = wid.z % params.chunks;
  let Og = params.Og;
  let Cg = params.Cg;
  let KHW = params.KH * params.KW;
  let CB = (Cg + 4u * COLS4 - 1u) / (4u * COLS4);
  let NB = KHW * CB;
  let t = wid.x * WG + lid.x;
  let row0 = (t / NB) * ROWS;
  let blk = t % NB;
  if (row0 >= Og) { return; }
  let tap = blk / CB;
  let c0 = (blk % CB) * 4u * COLS4;
  let kh = tap / params.KW;
  let kw = tap % params.KW;
  let HW = params.H * params.W;
  let OP = params.OH * params.OW;

  var xc: array<vec4<u32>, MAX_COLS4>;
  for (var j = 0u; j < COLS4; j++) {
    xc[j] = (grp * Cg + block_cols(c0, j, Cg)) * HW;
  }
  var gr: array<u32, MAX_ROWS>;
  for (var i = 0u; i < ROWS; i++) { gr[i] = (grp * Og + min(row0 + i, Og - 1u)) * OP; }
  // iw = ow*sw + a lies in [0, W) exactly for ow in [lo, hi).
  let a = i32(kw * params.dw) - i32(params.pw);
  let sw = i32(params.sw);
  let lo = select(0, (-a + sw - 1) / sw, a < 0);
  let hi = select(0, min(i32(params.OW), (i32(params.W) - 1 - a) / sw + 1), i32(params.W) - 1 - a >= 0);
  let dhh = i32(kh * params.dh) - i32(params.ph);

  var acc: array<array<vec4<f32>, MAX_COLS4>, MAX_ROWS>;
  let r0 = chunk * params.rows_per;
  let r1 = min(r0 + params.rows_per, params.N * params.OH);
  if (lo < hi) {
    for (var r = r0; r < r1; r++) {
      let n = r / params.OH;
      let oh = r % params.OH;
      let ih = i32(oh * params.sh) + dhh;
      if (ih < 0 || ih >= i32(params.H)) { continue; }
      var xo = n * params.C * HW + u32(ih) * params.W + u32(a + lo * sw);
      var go = n * params.O * OP + oh * params.OW + u32(lo);
      for (var ow = lo; ow < hi; ow++) {
        var xv: array<vec4<f32>, MAX_COLS4>;
        for (var j = 0u; j < COLS4; j++) {
          let q = xc[j] + vec4<u32>(xo);
          xv[j] = vec4<f32>(x[q.x], x[q.y], x[q.z], x[q.w]);
        }
        for (var i = 0u; i < ROWS; i++) {
          let gv = vec4<f32>(gy[gr[i] + go]);
          for (var j = 0u; j < COLS4; j++) { acc[i][j] = fma(gv, xv[j], acc[i][j]); }
        }
        xo += params.sw;
        go += 1u;
      }
    }
  }

  let base = chunk * (params.O * Cg * KHW) + tap;
  for (var i = 0u; i < ROWS; i++) {
    if (row0 + i >= Og) { break; }
    let off = base + ((grp * Og + row0 + i) * Cg + c0) * KHW;
    for (var j = 0u; j < COLS4; j++) {
      for (var t = 0u; t < 4u; t++) {
        if (c0 + 4u * j + t < Cg) { part[off + (4u * j + t) * KHW] = acc[i][j][t]; }
      }
    }
  }
}
