// A sum over the whole workgroup for the kernels that give one workgroup a row or channel (batch_norm_stats.wgsl,
// pgd_l2_step.wgsl, clip_grad_norm.wgsl). The including kernel declares WG, its workgroup size (a power of two).
var<workgroup> sum_red: array<f32, WG>;

// The sum of every thread's `v` as a pairwise tree (a fixed order, so the result is deterministic), returned to
// all threads. Called in uniform control flow by the whole workgroup (it has barriers).
fn wg_sum(t: u32, v: f32) -> f32 {
  sum_red[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { sum_red[t] = sum_red[t] + sum_red[t + s]; }
    workgroupBarrier();
  }
  let total = sum_red[0];
  // Nobody may overwrite sum_red[0] (next call) before everyone has read it.
  workgroupBarrier();
  return total;
}
