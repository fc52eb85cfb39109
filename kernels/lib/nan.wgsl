// NaN test on the bits: WGSL lets compilers assume no NaN, and lavapipe folds `v != v` to false.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}
