// max_pool2d backward as a gather (no atomics): dx[p, ih, iw] = sum of g[p, oh, ow] over the windows whose
// saved argmax idx[p, oh, ow] is ih*W + iw (overlapping windows accumulate, in output order as PyTorch).
// Only windows that can contain (ih, iw) are visited: oh*sh - ph <= ih <= oh*sh - ph + (kh-1)*dh.
// Layout: g, idx [P, OH, OW], dx [P, H, W] with P = N*C planes.
// Bindings: g (read, f32), idx (read, i32), dx (write, f32), params (as pool_max.wgsl). One input element per
// thread; 1-D grid folded into 2-D. The window range is lib/pool_window.wgsl's (shared with pool_avg.wgsl).
//!include lib/grid.wgsl
//!include lib/pool_window.wgsl
const WG: u32 = 256u;

struct Params { n: u32, H: i32, W: i32, OH: i32, OW: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

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
  let rh = covering_outputs(ih, p.kh, p.sh, p.ph, p.dh, p.OH);
  let rw = covering_outputs(iw, p.kw, p.sw, p.pw, p.dw, p.OW);
  var acc = 0.0;
  for (var oh = rh.x; oh <= rh.y; oh++) {
    for (var ow = rw.x; ow <= rw.y; ow++) {
      let o = obase + oh * p.OW + ow;
      if (idx[o] == me) { acc += g[o]; }
    }
  }
  dx[e] = acc;
}
