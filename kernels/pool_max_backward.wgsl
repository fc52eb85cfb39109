// max_pool2d backward as a gather (no atomics): dx[p, ih, iw] = sum of g[p, oh, ow] over the windows whose
// saved argmax idx[p, oh, ow] is ih*W + iw (overlapping windows accumulate, in output order as PyTorch).
// Only windows that can contain (ih, iw) are visited: oh*sh - ph <= ih <= oh*sh - ph + (kh-1)*dh.
// Layout: g, idx [P, OH, OW], dx [P, H, W] with P = N*C planes.
// Bindings: g (read, f32), idx (read, i32), dx (write, f32), params (as pool_max.wgsl). One input element per
// thread; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, H: i32, W: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// The outputs o (along one axis) whose window o*s - pad + [0, (k-1)*d] covers position i, clamped to [0, n).
fn covering(i: i32, k: i32, s: i32, pad: i32, d: i32, n: i32) -> vec2<i32> {
  let a = i + pad - (k - 1) * d;
  let lo = select(0, (a + s - 1) / s, a > 0);
  return vec2<i32>(lo, min((i + pad) / s, n - 1));
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = flat_id(wid, nwg) * WG + lid.x;
  if (e >= params.n) { return; }
  let p = params;
  let ei = i32(e);
  let iw = ei % p.W;
  let ih = (ei / p.W) % p.H;
  let obase = (ei / (p.W * p.H)) * p.OH * p.OW;
  let me = ih * p.W + iw;
  let rh = covering(ih, p.kh, p.sh, p.ph, p.dh, p.OH);
  let rw = covering(iw, p.kw, p.sw, p.pw, p.dw, p.OW);
  var acc = 0.0;
  for (var oh = rh.x; oh <= rh.y; oh++) {
    for (var ow = rw.x; ow <= rw.y; ow++) {
      let o = obase + oh * p.OW + ow;
      if (idx[o] == me) { acc += g[o]; }
    }
  }
  dx[e] = acc;
}
