// max_pool2d backward for windows that tile the input without overlap (kernel == stride, no padding,
// dilation 1): one thread per output window writes every input position of its window, g[o] where the saved
// argmax idx[o] is that position and 0 elsewhere, so every input position is written once and no thread
// searches for the windows covering it. The window KH x KW is a pipeline constant, so its loop unrolls. In
// ceil_mode the last windows hang over the input edge and are cut there; in floor mode rows/cols past the last
// window (H > OH*KH) belong to no window, and the last window of each row/column zeroes them.
// Layout: g, idx [P, OH, OW], dx [P, H, W] with P = N*C planes.
// Bindings: g (read, f32), idx (read, i32), dx (write, f32), params. One output window per thread; 1-D grid
// folded into 2-D.
//!include lib/grid.wgsl
const WG: u32 = 256u;
override KH: i32 = 2;
override KW: i32 = 2;

struct Params { n: u32, H: i32, W: i32, OH: i32, OW: i32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = flat_id(wid, nwg) * WG + lid.x;
  if (o >= params.n) { return; }
  let p = params;
  let oi = i32(o);
  let orow = oi / p.OW;
  let ow = oi - orow * p.OW;
  let oh = orow % p.OH;
  let base = (orow / p.OH) * p.H * p.W;
  let gv = g[o];
  let at = idx[o];
  let r0 = oh * KH;
  let c0 = ow * KW;
  for (var i = 0; i < KH; i++) {
    let r = r0 + i;
    if (r >= p.H) { break; }
    for (var j = 0; j < KW; j++) {
      let c = c0 + j;
      if (c >= p.W) { break; }
      let pos = r * p.W + c;
      dx[base + pos] = select(0.0, gv, pos == at);
    }
  }
  // Floor mode's uncovered remainder: empty ranges except in the last window row/column.
  let r1 = select(r0 + KH, p.H, oh == p.OH - 1);
  let c1 = select(c0 + KW, p.W, ow == p.OW - 1);
  for (var r = r0 + KH; r < r1; r++) {
    for (var c = c0; c < c1; c++) { dx[base + r * p.W + c] = 0.0; }
  }
  for (var r = r0; r < min(r0 + KH, r1); r++) {
    for (var c = c0 + KW; c < c1; c++) { dx[base + r * p.W + c] = 0.0; }
  }
}
