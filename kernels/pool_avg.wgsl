// Average pooling over planes [P = N*C, H, W] <-> [P, OH, OW], forward and backward (BACKWARD), for
// avg_pool2d (PyTorch's windows and divisors) and, with ADAPTIVE, adaptive_avg_pool2d.
// avg_pool2d window of output (oh, ow): rows [oh*sh - ph, oh*sh - ph + kh) cut to [-ph, H + ph) (a ceil_mode
// window may hang over the padded edge), then to the input; divisor = the size before cutting to the input
// when COUNT_INCLUDE_PAD, else the number of input elements; an empty window gives 0.
// adaptive window: rows [floor(oh*H/OH), ceil((oh+1)*H/OH)), likewise columns; divisor = its size.
// Forward: dst[p, oh, ow] = sum(src over the window) / divisor (src = x, one output per thread).
// Backward: dst[p, ih, iw] = sum over windows containing (ih, iw) of src[p, oh, ow] / divisor (src = g, one
// input element per thread, a gather: no atomics).
// Bindings: src (read, f32), dst (write, f32), params {n: threads, geometry}. 1-D grid folded into 2-D.
// avg_pool2d's covering range is lib/pool_window.wgsl's (shared with pool_max_backward.wgsl; no dilation here).
//!include lib/grid.wgsl
//!include lib/pool_window.wgsl
override ADAPTIVE: bool = false;
override COUNT_INCLUDE_PAD: bool = true;
override BACKWARD: bool = false;
const WG: u32 = 256u;

struct Params { n: u32, H: i32, W: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// One axis of a window: (start, end) inside the input, and the axis' share of the divisor.
fn span(o: i32, n: i32, on: i32, k: i32, s: i32, pad: i32) -> vec3<i32> {
  if (ADAPTIVE) {
    let a = (o * n) / on;
    let b = ((o + 1) * n + on - 1) / on;
    return vec3<i32>(a, b, b - a);
  }
  let a = o * s - pad;
  let b = min(a + k, n + pad);
  let ca = max(a, 0);
  let cb = min(b, n);
  return vec3<i32>(ca, cb, select(cb - ca, b - a, COUNT_INCLUDE_PAD));
}

// The outputs along one axis whose window can contain position i (clamped to [0, on); callers re-check).
fn covering(i: i32, n: i32, on: i32, k: i32, s: i32, pad: i32) -> vec2<i32> {
  if (ADAPTIVE) {
    return vec2<i32>((i * on) / n, min(((i + 1) * on + n - 1) / n - 1, on - 1));
  }
  return covering_outputs(i, k, s, pad, 1, on);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = flat_id(wid, nwg) * WG + lid.x;
  if (e >= params.n) { return; }
  let p = params;
  let ei = i32(e);
  if (!BACKWARD) {
    let ow = ei % p.OW;
    let oh = (ei / p.OW) % p.OH;
    let base = (ei / (p.OW * p.OH)) * p.H * p.W;
    let hs = span(oh, p.H, p.OH, p.kh, p.sh, p.ph);
    let ws = span(ow, p.W, p.OW, p.kw, p.sw, p.pw);
    if (hs.x >= hs.y || ws.x >= ws.y) { dst[e] = 0.0; return; }
    var acc = 0.0;
    for (var ih = hs.x; ih < hs.y; ih++) {
      for (var iw = ws.x; iw < ws.y; iw++) { acc += src[base + ih * p.W + iw]; }
    }
    dst[e] = acc / f32(hs.z * ws.z);
    return;
  }
  let iw = ei % p.W;
  let ih = (ei / p.W) % p.H;
  let obase = (ei / (p.W * p.H)) * p.OH * p.OW;
  let rh = covering(ih, p.H, p.OH, p.kh, p.sh, p.ph);
  let rw = covering(iw, p.W, p.OW, p.kw, p.sw, p.pw);
  var acc = 0.0;
  for (var oh = rh.x; oh <= rh.y; oh++) {
    let hs = span(oh, p.H, p.OH, p.kh, p.sh, p.ph);
    if (ih < hs.x || ih >= hs.y) { continue; }
    for (var ow = rw.x; ow <= rw.y; ow++) {
      let ws = span(ow, p.W, p.OW, p.kw, p.sw, p.pw);
      if (iw < ws.x || iw >= ws.y) { continue; }
      acc += src[obase + oh * p.OW + ow] / f32(hs.z * ws.z);
    }
  }
  dst[e] = acc;
}
