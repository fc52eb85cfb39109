// max_pool2d forward over planes of x [P = N*C, H, W] -> y, idx [P, OH, OW]: y is the max of the window
// rows oh*sh - ph + i*dh, cols ow*sw - pw + j*dw (i < kh, j < kw) that lie inside the input (padding counts as
// -inf), idx its flat position ih*W + iw in the plane. As PyTorch: visited in row-major order, a later value
// wins only if strictly greater (ties keep the first) or NaN (NaN propagates).
// The window size KH x KW is a pipeline constant (the same as params kh, kw), so the window loop unrolls.
// RELU: y = relu(max) (max_pool2d_relu; max commutes with relu, so this is also max_pool2d(relu(x))).
// Bindings: x (read, f32), y (write, f32), idx (write, i32), params. One output per thread; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
//!include lib/nan.wgsl
const WG: u32 = 256u;
override KH: i32 = 1;
override KW: i32 = 1;
override RELU: bool = false;

struct Params { n: u32, H: i32, W: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> idx: array<i32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = flat_id(wid, nwg) * WG + lid.x;
  if (o >= params.n) { return; }
  let p = params;
  let oi = i32(o);
  let ow = oi % p.OW;
  let oh = (oi / p.OW) % p.OH;
  let base = (oi / (p.OW * p.OH)) * p.H * p.W;
  // The first element inside the input is always taken (at < 0), so best needs no -inf start; every
  // window has one (padding <= kernel/2 and the ceil_mode rule, checked by the wrapper's caller).
  var best = 0.0;
  var at = -1;
  for (var i = 0; i < KH; i++) {
    let ih = oh * p.sh - p.ph + i * p.dh;
    if (ih < 0 || ih >= p.H) { continue; }
    for (var j = 0; j < KW; j++) {
      let iw = ow * p.sw - p.pw + j * p.dw;
      if (iw < 0 || iw >= p.W) { continue; }
      let v = x[base + ih * p.W + iw];
      if (at < 0 || v > best || is_nan(v)) { best = v; at = ih * p.W + iw; }
    }
  }
  // NaN stays NaN, as torch.relu.
  y[o] = select(best, 0.0, RELU && best < 0.0);
  idx[o] = at;
}
