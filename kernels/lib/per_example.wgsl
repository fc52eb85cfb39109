// How the PGD step kernels (pgd_linf_step.wgsl, pgd_l2_step.wgsl) read a per-example eps or alpha, values the
// CPU cannot check without a readback. They map to what a scalar the CPU accepts would do, so no NaN or
// infinity enters the arithmetic; tested on the bits, since WGSL lets compilers assume neither occurs.

// A radius: NaN, -0 and negatives read as 0 (the example is held at x), +inf as the largest float32 (no ball).
fn radius_or_zero(v: f32) -> f32 {
  let b = bitcast<u32>(v);
  if (b == 0x7f800000u) { return bitcast<f32>(0x7f7fffffu); }
  return select(0.0, v, b < 0x7f800000u);
}

// A step size: NaN and +-inf read as 0 (no step), so 0 * inf never makes a NaN; finite values of either sign pass.
fn finite_or_zero(v: f32) -> f32 {
  return select(0.0, v, (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u);
}
