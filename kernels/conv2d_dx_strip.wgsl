// dx[n, g*Cg + c, ih, iw] = sum_{o,kh,kw} gy[n, g*Og + o, ih + ph - kh, iw + pw - kw] * w[g*Og + o, c, kh, kw]:
// the input gradient of a stride-1, dilation-1 conv2d with few input channels per group (Cg = ROWS <= 4, the
// first layer of an image model), as conv2d_dx.wgsl computes it for wider layers.
// Layout: gy NCHW [N, O, OH, OW], w OIHW [O, Cg, KH, KW], dx NCHW [N, C, H, W].
// Bindings: gy, w (read, f32), dx (write, f32), params.
// Threads: t = ((grp * N + n) * H + ih) * SW + strip over a 1-D grid folded into 2-D; thread t writes the
// STRIP pixels iw = STRIP*strip .. of row ih for every channel of its group (SW = ceil(W / STRIP)).
//
// Why strips: with so few channels conv2d_dx.wgsl's blocks are mostly empty rows, and each gy value is loaded
// once per tap that reads it (KH*KW times). Here a thread loads the STRIP + KW - 1 gy values of one output row
// segment once per (o, kh) and uses each for all KW taps of its strip: on lavapipe, where every per-lane load
// is a gather, that is about a third of the loads for a 3x3 kernel. The weight loads are the same in all SIMD
// lanes (one scalar load each).
//!include lib/grid.wgsl
override ROWS: u32 = 1u;
override KH: u32 = 3u;
override KW: u32 = 3u;
const STRIP: u32 = 16u;
const MAX_ROWS: u32 = 4u;
// STRIP + KW - 1 for KW up to 7.
const MAX_SEG: u32 = 22u;
const WG: u32 = 64u;

struct Params { N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, ph: u32, pw: u32, Og: u32, groups: u32 }

@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params;
  let SW = (p.W + STRIP - 1u) / STRIP;
  let t = flat_id(wid, nwg) * WG + lid.x;
  if (t >= p.groups * p.N * p.H * SW) { return; }
  let strip = t % SW;
  let ih = (t / SW) % p.H;
  let n = (t / (SW * p.H)) % p.N;
  let grp = t / (SW * p.H * p.N);
  let j0 = strip * STRIP;
  let OP = p.OH * p.OW;
  let KHW = KH * KW;
  // Output column of seg[0]: iw + pw - kw for iw = j0 and kw = KW - 1.
  let ow0 = i32(j0 + p.pw) - i32(KW - 1u);

  var acc: array<array<f32, STRIP>, MAX_ROWS>;
  for (var o = 0u; o < p.Og; o++) {
    let gplane = (n * p.O + grp * p.Og + o) * OP;
    let wo = (grp * p.Og + o) * ROWS * KHW;
    for (var kh = 0u; kh < KH; kh++) {
      let oh = i32(ih + p.ph) - i32(kh);
      if (oh < 0 || oh >= i32(p.OH)) { continue; }
      let grow = gplane + u32(oh) * p.OW;
      var seg: array<f32, MAX_SEG>;
      for (var s = 0u; s < STRIP + KW - 1u; s++) {
        let ow = ow0 + i32(s);
        let ok = ow >= 0 && ow < i32(p.OW);
        seg[s] = select(0.0, gy[select(grow, grow + u32(ow), ok)], ok);
      }
      for (var kw = 0u; kw < KW; kw++) {
        for (var c = 0u; c < ROWS; c++) {
          let wv = w[wo + c * KHW + kh * KW + kw];
          for (var i = 0u; i < STRIP; i++) { acc[c][i] = fma(wv, seg[i + KW - 1u - kw], acc[c][i]); }
        }
      }
    }
  }

  let HW = p.H * p.W;
  for (var c = 0u; c < ROWS; c++) {
    let base = (n * p.C + grp * ROWS + c) * HW + ih * p.W + j0;
    for (var i = 0u; i < STRIP; i++) {
      if (j0 + i < p.W) { dx[base + i] = acc[c][i]; }
    }
  }
}
