// x^p with PyTorch's conventions: x^0 = 1, 0^p = 0 (p > 0) or inf (p < 0), negative bases only for integer p.
// inf comes from a private variable (WGSL refuses it as a constant expression), NaN from lib/nan.wgsl.
//!include lib/nan.wgsl
var<private> POS_INF_BITS: u32 = 0x7f800000u;

fn pow_real(v: f32, p: f32) -> f32 {
  if (p == 0.0) { return 1.0; }
  if (v == 0.0) { return select(0.0, bitcast<f32>(POS_INF_BITS), p < 0.0); }
  let m = exp2(p * log2(abs(v)));
  if (v > 0.0) { return m; }
  if (floor(p) != p) { return bitcast<f32>(NAN_BITS); }
  return select(m, -m, (abs(p) % 2.0) == 1.0);
}
