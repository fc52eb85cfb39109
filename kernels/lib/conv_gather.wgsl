// What conv2d_fwd.wgsl and conv2d_dx.wgsl share as implicit GEMMs whose columns are image pixels gathered per
// tap (kh, kw): their params (one geometry, filled by kernels/conv2d.ts for both), the 8x8 threads and the
// decoding of the workgroup grid (a tap's padding mask is lib/conv_pixels.wgsl's). The weight gradient
// (conv2d_dw.wgsl) numbers its blocks differently and shares only lib/conv_block.wgsl.
//!include lib/conv_block.wgsl
//!include lib/conv_pixels.wgsl
const WX: u32 = 8u;
const WY: u32 = 8u;

struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32, Cg: u32, Og: u32, zgroups: u32,
}

// Workgroup z is group + zgroups * fold, the fold continuing workgroup x past the 65535 limit (grid() in
// kernels/conv2d.ts): the group, and the workgroup's x with the fold undone.
fn grid_group(wid: vec3<u32>) -> u32 {
  return wid.z % params.zgroups;
}

fn grid_x(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + (wid.z / params.zgroups) * nwg.x;
}

