// The per-thread register block of the conv2d kernels (conv2d_fwd.wgsl, conv2d_dx.wgsl, conv2d_dw.wgsl), the
// core of matmul.wgsl: ROWS GEMM rows x 4*COLS4 columns accumulated in
// `array<array<vec4<f32>, MAX_COLS4>, MAX_ROWS>`, the block chosen per call (CONV_BLOCKS in kernels/conv2d.ts).
// The accumulation and write-back loops stay written out in each kernel: they read and write different
// buffers, which a WGSL function cannot take as a parameter, and helpers taking the accumulators by pointer or
// by value ran 1.5-2x slower in matmul.wgsl.
override ROWS: u32 = 8u;
override COLS4: u32 = 2u;
// Twice the largest ROWS in use (16, kernels/conv2d.ts checks it): as in matmul.wgsl, ROWS equal to the array
// bound made lavapipe compile for seconds and run slower; the 16-row measurements were made with this bound.
const MAX_ROWS: u32 = 32u;
const MAX_COLS4: u32 = 4u;

// Columns c0 + 4j .. c0 + 4j + 3 of a block, clamped to the last of n columns: columns past the edge load in
// bounds, so the reduction loops need no edge branches, and the write-back drops them.
fn block_cols(c0: u32, j: u32, n: u32) -> vec4<u32> {
  return min(vec4<u32>(c0 + 4u * j) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(n - 1u));
}
