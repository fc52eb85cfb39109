// part[s, g*Og + o, c, kh, kw] = sum over the output pixels (n, oh, ow) of chunk s of
//   gy[n, g*Og + o, oh, ow] * x[n, g*Cg + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]:
// the weight gradient of conv2d for small kernels (KH*KW <= 9), with every tap of one input channel in the
// same thread. Same math, layout and split-K as conv2d_dw.wgsl (whose partial sums conv2d_dw_reduce.wgsl adds);
// only the blocking differs.
// Layout: x NCHW [N, C, H, W], gy NCHW [N, O, OH, OW], part [chunks, O, Cg, KH, KW].
// Bindings: x, gy (read, f32), part (write, f32), params.
// Threads: t = ((grp * chunks + chunk) * OB + ob) * Cg + c over a 1-D grid folded into 2-D; thread t sums
// output channels ROWS*ob .. (OB = ceil(Og / ROWS) blocks) of input channel c over the rows (n, oh) of its chunk.
//
// Why this blocking: on lavapipe a buffer load whose address is the same in all 8 SIMD lanes is one scalar
// load, any other is a per-lane gather. Consecutive threads take consecutive input channels, so as long as
// Cg >= 8 the lanes share the pixel and the output channels: the ROWS gy loads are uniform and only the KH*KW
// x loads are gathers, against ROWS*KH*KW multiply-adds (conv2d_dw.wgsl gathers both operands, and with one
// input channel, the first layer of a grey-image CNN, wastes 3 of every 4 columns). Taps whose input pixel
// falls in the padding read 0; the test is uniform across the lanes that share a pixel.
//!include lib/grid.wgsl
override ROWS: u32 = 16u;
override KH: u32 = 3u;
override KW: u32 = 3u;
const MAX_ROWS: u32 = 16u;
const MAX_TAPS: u32 = 9u;
const WG: u32 = 64u;

// KH and KW are also overrides (so that the tap loops unroll into registers); the params' copies are unused.
struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32, Cg: u32, Og: u32, groups: u32, chunks: u32, rows_per: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params;
  let OB = (p.Og + ROWS - 1u) / ROWS;
  let t = flat_id(wid, nwg) * WG + lid.x;
  if (t >= p.groups * p.chunks * OB * p.Cg) { return; }
  let c = t % p.Cg;
  let ob = (t / p.Cg) % OB;
  let chunk = (t / (p.Cg * OB)) % p.chunks;
  let grp = t / (p.Cg * OB * p.chunks);
  let HW = p.H * p.W;
  let OP = p.OH * p.OW;
  let row0 = ob * ROWS;
  let xc = (grp * p.Cg + c) * HW;
  var gr: array<u32, MAX_ROWS>;
  for (var i = 0u; i < ROWS; i++) { gr[i] = (grp * p.Og + min(row0 + i, p.Og - 1u)) * OP; }

  var acc: array<array<f32, MAX_TAPS>, MAX_ROWS>;
  let r0 = chunk * p.rows_per;
  let r1 = min(r0 + p.rows_per, p.N * p.OH);
  for (var r = r0; r < r1; r++) {
    let n = r / p.OH;
    let oh = r % p.OH;
    let xn = n * p.C * HW + xc;
    let gn = n * p.O * OP + oh * p.OW;
    let ih0 = i32(oh * p.sh) - i32(p.ph);
    for (var ow = 0u; ow < p.OW; ow++) {
      let iw0 = i32(ow * p.sw) - i32(p.pw);
      var xv: array<f32, MAX_TAPS>;
      for (var kh = 0u; kh < KH; kh++) {
        let ih = ih0 + i32(kh * p.dh);
        for (var kw = 0u; kw < KW; kw++) {
          let iw = iw0 + i32(kw * p.dw);
          let ok = ih >= 0 && ih < i32(p.H) && iw >= 0 && iw < i32(p.W);
          // Offsets of padding taps are clamped to the plane's first element, which exists.
          xv[kh * KW + kw] = select(0.0, x[xn + select(0u, u32(ih) * p.W + u32(iw), ok)], ok);
        }
      }
      for (var i = 0u; i < ROWS; i++) {
        let g = gy[gr[i] + gn + ow];
        for (var k = 0u; k < KH * KW; k++) { acc[i][k] = fma(g, xv[k], acc[i][k]); }
      }
    }
  }

  let base = chunk * (p.O * p.Cg * KH * KW) + c * KH * KW;
  for (var i = 0u; i < ROWS; i++) {
    if (row0 + i >= p.Og) { break; }
    let off = base + (grp * p.Og + row0 + i) * p.Cg * KH * KW;
    for (var k = 0u; k < KH * KW; k++) { part[off + k] = acc[i][k]; }
  }
}
