// The backward of kernels/activation.wgsl in one pass from the saved input: gx[i] = g[i] f'(x[i]) and, for the
// ops with a learnable scalar (psoftplus's alpha, smoothrelu's a), gp[i] = g[i] df/dp(x[i]), which the op sums.
// relu_smoothgrad (OP 11) writes the surrogate g sigmoid(alpha x), alpha = a (SAT 6.3), not relu's derivative.
// Derivatives are formed without cancellation or overflow for every finite x (lib/stable.wgsl).
// Bindings: x (read, f32), g (read, f32), p (read, f32: p[0] the learnable scalar, or any buffer), gx (write,
// when X_GRAD), gp (write, when P_GRAD; any writable buffer otherwise), params {n, a, b} as in the forward.
//!include lib/grid.wgsl
//!include lib/stable.wgsl
override OP: u32 = 0u;
override X_GRAD: bool = true;
override P_GRAD: bool = false;
const WG: u32 = 256u;

struct Params { n: u32, a: f32, b: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@group(0) @binding(4) var<storage, read_write> gp: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

// log(1 + t) - t / (1 + t) for t >= 0 (smoothrelu's d/da times a^2). With s = t / (2 + t) it is
// 2 s^2 / (1 + s) + 2 s^3 atanh_tail(s^2): two positive terms, so it keeps its precision as t -> 0.
fn log1p_minus_ratio(t: f32) -> f32 {
  if (t > 1.0) { return log(1.0 + t) - t / (1.0 + t); }
  let s = t / (2.0 + t);
  let s2 = s * s;
  return 2.0 * s2 / (1.0 + s) + 2.0 * s * s2 * atanh_tail(s2);
}

// (df/dx, df/dp) at v.
fn df(v: f32) -> vec2<f32> {
  switch OP {
    case 0u: { return vec2<f32>(select(0.0, 1.0, v > 0.0), 0.0); }
    case 1u: {
      let t = v * params.a;
      return vec2<f32>(select(sigmoid_s(t), 1.0, t > params.b), 0.0);
    }
    case 2u: {
      // d/dalpha of softplus(alpha x) / alpha = (t sigmoid(t) - softplus(t)) / alpha^2 with t = alpha x, which
      // is even in t: -(|t| sigmoid(-|t|) + log1p(e^-|t|)) / alpha^2, a sum of same-signed terms.
      let alpha = p[0];
      let t = alpha * v;
      let e = exp(-abs(t));
      let r = 1.0 / (1.0 + e);
      let sig = select(e * r, r, t >= 0.0);
      return vec2<f32>(sig, -(abs(t) * e * r + log1p_s(e)) / (alpha * alpha));
    }
    case 3u: {
      let s = sigmoid_pair(v);
      return vec2<f32>(s.x + v * s.x * s.y, 0.0);
    }
    case 4u: {
      // Past |x| = 40 the density term is 0 in f32; clamping keeps x^2 finite.
      let c = clamp(v, -40.0, 40.0);
      return vec2<f32>(normal_cdf_s(v) + c * INV_SQRT_2PI * exp(-0.5 * c * c), 0.0);
    }
    case 5u: {
      // 0.5 (1 + tanh u) = sigmoid(2u) and 0.5 (1 - tanh^2 u) = 2 sigmoid(2u) sigmoid(-2u); f'(x) equals f'(+-20)
      // in f32 beyond |x| = 20.
      let c = clamp(v, -20.0, 20.0);
      let u = SQRT_2_OVER_PI * (c + 0.044715 * c * c * c);
      let s = sigmoid_pair(2.0 * u);
      return vec2<f32>(s.x + 2.0 * c * s.x * s.y * SQRT_2_OVER_PI * (1.0 + 0.134145 * c * c), 0.0);
    }
    // PyTorch's elu_backward takes the exp branch at x = 0 (derivative alpha there).
    case 6u: { return vec2<f32>(select(params.a * exp(v), 1.0, v > 0.0), 0.0); }
    case 7u: {
      let a = p[0];
      if (v <= 0.0) { return vec2<f32>(0.0, 0.0); }
      let t = a * v;
      return vec2<f32>(t / (1.0 + t), log1p_minus_ratio(t) / (a * a));
    }
    case 8u: {
      // mish' = tanh(sp) + x sigmoid(x) sech^2(sp), sp = softplus(x), both from e^{-|x|} (the forward's tanh(sp)).
      let ts = tanh_sech2_softplus(v);
      return vec2<f32>(ts.x + v * sigmoid_s(v) * ts.y, 0.0);
    }
    case 9u: { return vec2<f32>(sech2_s(v), 0.0); }
    case 10u: {
      let s = sigmoid_pair(v);
      return vec2<f32>(s.x * s.y, 0.0);
    }
    case 11u: { return vec2<f32>(sigmoid_s(params.a * v), 0.0); }
    default: { return vec2<f32>(1.0, 0.0); }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let d = df(x[i]);
  let gi = g[i];
  // relu selects rather than multiplies, as PyTorch's threshold_backward: an infinite g stays out of 0 * inf.
  if (X_GRAD) { gx[i] = select(gi * d.x, select(0.0, gi, d.x > 0.0), OP == 0u); }
  if (P_GRAD) { gp[i] = gi * d.y; }
}
