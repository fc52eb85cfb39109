// y[a, c, b] = op over j in chunk c of x[a, j, b] for x viewed as [A, R, B] f32 (b contiguous), y as
// [A, C, B]; sums times scale. The entry point and its loop are lib/reduce_axis_main.wgsl's.
// Bindings: x (read, f32), y (write, f32), params {n = A*C*B, r = R, b = B, c = C, chunk, scale}.
//!include lib/nan.wgsl
//!include lib/reduce_axis_main.wgsl
alias V = f32;

struct Params { n: u32, r: u32, b: u32, c: u32, chunk: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn nan_of(v: f32) -> bool { return is_nan(v); }

fn store(i: u32, acc: f32) { y[i] = acc * params.scale; }
