// Window arithmetic shared by the pooling kernels' backward passes (pool_max_backward.wgsl, and pool_avg.wgsl
// for avg_pool2d), which gather over the outputs whose windows can contain an input position.

// The outputs o along one axis whose window o*s - pad + [0, (k-1)*d] can contain input position i, as the
// range [lo, hi] clamped to [0, on); callers re-check membership where a window may be cut or dilated.
fn covering_outputs(i: i32, k: i32, s: i32, pad: i32, d: i32, on: i32) -> vec2<i32> {
  let a = i + pad - (k - 1) * d;
  let lo = select(0, (a + s - 1) / s, a > 0);
  return vec2<i32>(lo, min((i + pad) / s, on - 1));
}
