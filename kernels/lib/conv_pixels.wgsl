// A tap's padding mask for four gathered pixels, shared by every implicit-GEMM conv2d kernel
// (lib/conv_gather.wgsl's register-blocked ones and the conv2d_*_tiled.wgsl ones).

// Which of four pixels at rows r, columns c lie inside an h x w image (the others are padding, read as 0).
fn inside(r: vec4<i32>, c: vec4<i32>, h: u32, w: u32) -> vec4<bool> {
  return (r >= vec4<i32>(0)) & (r < vec4<i32>(i32(h))) & (c >= vec4<i32>(0)) & (c < vec4<i32>(i32(w)));
}

// base + r*w + c for the pixels inside (ok), base for the others. Wrapping u32 arithmetic gives the right
// offset wherever the pixel is inside; the others read the image base, an element that exists.
fn pixel_offsets(base: vec4<u32>, r: vec4<i32>, c: vec4<i32>, w: u32, ok: vec4<bool>) -> vec4<u32> {
  return select(base, base + vec4<u32>(r) * w + vec4<u32>(c), ok);
}
