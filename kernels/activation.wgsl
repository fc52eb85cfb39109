// y[i] = f(x[i]) for one activation chosen by the OP override (numbering in kernels/activation.ts): relu,
// softplus (beta = a, threshold = b, PyTorch's: x where beta x > threshold), psoftplus (1/alpha) log(1 + e^{alpha x}),
// silu, gelu (erf), gelu (tanh), elu (alpha = a), smoothrelu x - log(1 + a x)/a for x >= 0, mish, tanh, sigmoid.
// relu_smoothgrad's forward is relu. Every form is stable for all finite x (lib/stable.wgsl).
// Bindings: x (read, f32), p (read, f32: p[0] is the learnable scalar of psoftplus (alpha) and smoothrelu (a);
// any buffer for the other ops), y (write, f32), params {n, a, b}. One element per thread; 1-D grid folded into 2-D:
// the entry point is lib/map_main.wgsl's, shared with unary.wgsl.
//!include lib/stable.wgsl
//!include lib/map_main.wgsl
override OP: u32 = 0u;

struct Params { n: u32, a: f32, b: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// t - log(1 + t) for t >= 0. Below t = 1 it is s t - 2 s^3 atanh_tail(s^2) with s = t / (2 + t), which has no
// cancellation (the subtraction removes a term of order t^3 from one of order t^2).
fn t_minus_log1p(t: f32) -> f32 {
  let s = t / (2.0 + t);
  let s2 = s * s;
  return s * t - 2.0 * s * s2 * atanh_tail(s2);
}

fn f(v: f32) -> f32 {
  switch OP {
    // NaN passes through relu as in PyTorch (v <= 0 is false for NaN).
    case 0u, 11u: { return select(v, 0.0, v <= 0.0); }
    case 1u: {
      let t = v * params.a;
      if (t > params.b) { return v; }
      return softplus_s(t) / params.a;
    }
    case 2u: {
      let alpha = p[0];
      return softplus_s(alpha * v) / alpha;
    }
    case 3u: { return v * sigmoid_s(v); }
    case 4u: { return v * normal_cdf_s(v); }
    case 5u: {
      // 0.5 (1 + tanh u) = sigmoid(2u), which does not cancel for very negative x; past |x| = 20 the factor
      // is exactly 0 or 1 in f32, and clamping keeps x^3 from overflowing.
      let c = clamp(v, -20.0, 20.0);
      let u = SQRT_2_OVER_PI * (c + 0.044715 * c * c * c);
      return v * sigmoid_s(2.0 * u);
    }
    case 6u: { return select(params.a * expm1_s(v), v, v > 0.0); }
    case 7u: {
      let a = p[0];
      if (v <= 0.0) { return 0.0; }
      let t = a * v;
      if (t <= 1.0) { return t_minus_log1p(t) / a; }
      return v - log(1.0 + t) / a;
    }
    case 8u: { return v * tanh_sech2_softplus(v).x; }
    case 9u: { return tanh_s(v); }
    case 10u: { return sigmoid_s(v); }
    default: { return v; }
  }
}
