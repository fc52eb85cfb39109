// Numerically stable f32 helpers for activation and loss kernels. WGSL's exp overflows past |x| ~ 88 and its
// tanh may return NaN there (ANCHORS.md 3.5), so nothing here exponentiates a positive argument, and the
// small-argument forms (log1p, expm1, tanh, erf) avoid cancellation. Include with `//!include lib/stable.wgsl`.

const F32_MAX: f32 = 3.4028234663852886e38;
const SQRT1_2: f32 = 0.7071067811865476;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2PI: f32 = 0.3989422804014327;
const TWO_OVER_SQRT_PI: f32 = 1.1283791670955126;

// (sigmoid(x), sigmoid(-x)) from one exp(-|x|): both accurate to a few ulps for every x, so 1 - sigmoid(x)
// never has to be formed by subtraction.
fn sigmoid_pair(x: f32) -> vec2<f32> {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  if (x >= 0.0) { return vec2<f32>(r, e * r); }
  return vec2<f32>(e * r, r);
}

fn sigmoid_s(x: f32) -> f32 {
  return sigmoid_pair(x).x;
}

// sum_k s2^k / (2k + 3) = (atanh(s) - s) / s^3, for s2 = s^2 <= 1/9 (error ~1e-9 relative).
fn atanh_tail(s2: f32) -> f32 {
  return 1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0 + s2 / 17.0))))));
}

// log(1 + u) for u > -1. WGSL has no log1p, and log(1 + u) loses all relative precision for small u. On
// (-0.5, 1] it is 2 atanh(s) with s = u / (2 + u), |s| <= 1/3: an odd series with no cancellation (this avoids
// the (1+u)-1 trick, which an optimising shader compiler may fold away); elsewhere 1 + u is exact enough.
fn log1p_s(u: f32) -> f32 {
  if (u > 1.0 || u <= -0.5) { return log(1.0 + u); }
  let s = u / (2.0 + u);
  let s2 = s * s;
  return 2.0 * s * (1.0 + s2 * atanh_tail(s2));
}

// e^x - 1 without cancellation near 0 (Taylor to x^9 on |x| < 0.5, error < 3e-10 relative).
fn expm1_s(x: f32) -> f32 {
  if (abs(x) >= 0.5) { return exp(x) - 1.0; }
  return x * (1.0 + x * (1.0 / 2.0 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0 + x / 362880.0))))))));
}

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): never overflows, and keeps e^x's precision for very negative x.
fn softplus_s(x: f32) -> f32 {
  return max(x, 0.0) + log1p_s(exp(-abs(x)));
}

// tanh without WGSL's tanh (NaN past |x| ~ 88 on some drivers): sign(x) (1 - e) / (1 + e), e = e^{-2|x|},
// and its odd Taylor series below |x| = 0.25 where 1 - e would cancel (error < 1e-8 relative).
fn tanh_s(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.25) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
  }
  let e = exp(-2.0 * a);
  let t = (1.0 - e) / (1.0 + e);
  return select(t, -t, x < 0.0);
}

// (tanh(sp), sech^2(sp)) for sp = softplus(x) = log(1 + e^x) (mish and its derivative), written with e^{-|x|}
// only. For x <= 0, with n = e^2x + 2e^x: tanh = n / (n + 2), sech^2 = 4(n + 1) / (n + 2)^2. For x > 0, with
// m = e^{-x} and d = 1 + 2m + 2m^2: tanh = (1 + 2m) / d, sech^2 = (2m(1 + m) / d)^2, never formed as 1 - tanh^2.
fn tanh_sech2_softplus(v: f32) -> vec2<f32> {
  if (v <= 0.0) {
    let e = exp(v);
    let n = e * (e + 2.0);
    return vec2<f32>(n / (n + 2.0), 4.0 * (n + 1.0) / ((n + 2.0) * (n + 2.0)));
  }
  let m = exp(-v);
  let d = 1.0 + 2.0 * m + 2.0 * m * m;
  let q = 2.0 * m * (1.0 + m) / d;
  return vec2<f32>((1.0 + 2.0 * m) / d, q * q);
}

// 1 - tanh(x)^2 = 4e / (1 + e)^2 with e = e^{-2|x|}: keeps its (tiny) value where 1 - tanh^2 would round to 0.
fn sech2_s(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  let d = 1.0 + e;
  return 4.0 * e / (d * d);
}

// erfc(z) for z >= 0 with relative error < 1.2e-7 in exact arithmetic (Numerical Recipes' Chebyshev fit
// erfcc), so the tails of erf and of the normal CDF keep full relative precision.
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p - z * z);
}

// erf(x): Taylor series near 0 (where 1 - erfc would cancel), 1 - erfc(|x|) elsewhere; ~1e-7 relative.
fn erf_s(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) {
    let x2 = x * x;
    return TWO_OVER_SQRT_PI * x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (1.0 / 10.0 + x2 * (-1.0 / 42.0 + x2 * (1.0 / 216.0 + x2 * (-1.0 / 1320.0 + x2 / 9360.0))))));
  }
  let r = 1.0 - erfc_pos(a);
  return select(r, -r, x < 0.0);
}

// The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, with full relative precision in the lower tail.
fn normal_cdf_s(x: f32) -> f32 {
  let c = 0.5 * erfc_pos(abs(x) * SQRT1_2);
  return select(1.0 - c, c, x < 0.0);
}

// Online log-sum-exp: the pair (m, s) stands for s * e^m, and neither pushing a value nor merging two pairs
// ever exponentiates a positive number. Start from LSE_EMPTY, no values yet: -F32_MAX rather than -inf, so
// that merging two empty pairs (lanes left without elements) gives 0 * e^0 = 0, not 0 * e^(inf - inf) = NaN.
const LSE_EMPTY = vec2<f32>(-F32_MAX, 0.0);

fn lse_push(acc: vec2<f32>, v: f32) -> vec2<f32> {
  if (v > acc.x) { return vec2<f32>(v, acc.y * exp(acc.x - v) + 1.0); }
  return vec2<f32>(acc.x, acc.y + exp(v - acc.x));
}

fn lse_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}
