// What conv2d_fwd.wgsl and conv2d_dx.wgsl share as implicit GEMMs whose columns are image pixels gathered per
// tap (kh, kw): their params (one geometry, filled by kernels/conv2d.ts for both), the 8x8 threads, the decoding
// of the workgroup grid, and a tap's padding mask. The weight gradient (conv2d_dw.wgsl) numbers its blocks
// differently and shares only lib/conv_block.wgsl.
//!include lib/conv_block.wgsl
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

// Which of four pixels at rows r, columns c lie inside an h x w image (the others are padding, read as 0).
fn inside(r: vec4<i32>, c: vec4<i32>, h: u32, w: u32) -> vec4<bool> {
  return (r >= vec4<i32>(0)) & (r < vec4<i32>(i32(h))) & (c >= vec4<i32>(0)) & (c < vec4<i32>(i32(w)));
}

// base + r*w + c for the pixels inside (ok), base for the others. Wrapping u32 arithmetic gives the right
// offset wherever the pixel is inside; the others read the image base, an element that exists.
fn pixel_offsets(base: vec4<u32>, r: vec4<i32>, c: vec4<i32>, w: u32, ok: vec4<bool>) -> vec4<u32> {
  return select(base, base + vec4<u32>(r) * w + vec4<u32>(c), ok);
}
