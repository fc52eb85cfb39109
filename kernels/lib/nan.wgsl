// NaN helpers for the kernels that test for NaN or write it.

// NaN test on the bits: WGSL lets compilers assume no NaN, and lavapipe folds `v != v` to false.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// A quiet NaN as bitcast<f32>(NAN_BITS), from a private variable: WGSL refuses NaN as a constant expression.
var<private> NAN_BITS: u32 = 0x7fc00000u;
