// y[i] = f(x[i]) for one elementwise unary op, chosen by the OP override (numbering in kernels/elementwise.ts);
// a and b are the op's scalar arguments (scale/shift, exponent, clamp bounds).
// Bindings: x (read, f32), y (write, f32), params. One element per thread; 1-D grid folded into 2-D: the entry
// point is lib/map_main.wgsl's, shared with activation.wgsl.
//!include lib/nan.wgsl
//!include lib/pow.wgsl
//!include lib/map_main.wgsl
override OP: u32 = 0u;

struct Params { n: u32, a: f32, b: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn f(v: f32) -> f32 {
  switch OP {
    case 0u: { return v; }
    case 1u: { return -v; }
    case 2u: { return exp(v); }
    case 3u: { return log(v); }
    case 4u: { return sqrt(v); }
    case 5u: { return abs(v); }
    case 6u: { return sign(v); }
    case 7u: { return v * v; }
    case 8u: { return 1.0 / v; }
    case 9u: { return v * params.a + params.b; }
    case 10u: { return pow_real(v, params.a); }
    case 11u: { return select(min(max(v, params.a), params.b), v, is_nan(v)); }
    case 12u: { return select(0.0, 1.0, v >= params.a && v <= params.b); }
    default: { return v; }
  }
}
