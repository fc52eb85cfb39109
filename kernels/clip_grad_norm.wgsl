// Global L2 gradient-norm clipping without a readback, as torch.nn.utils.clip_grad_norm_, in three phases
// chosen by the PHASE override (all gradients share one `partials` buffer of count + 1 floats):
//   0 (per gradient tensor, `groups` workgroups): partials[offset + w] = sum of grad[k]^2 over workgroup w's
//     strided share of the n elements;
//   1 (one workgroup): norm[0] = sqrt(sum of partials[0 .. count)); partials[count] = min(1, max_norm / (norm + 1e-6));
//   2 (per gradient tensor, one element per thread): grad[k] *= partials[count].
// Every phase binds all three buffers (phase 1 any gradient, unused). Partials are summed in a fixed order,
// so the norm is deterministic; a workgroup's partial sum is lib/workgroup_sum.wgsl's tree.
// Bindings: grad (read_write, f32), partials (read_write, f32), norm (read_write, f32 [1]),
// params {n, offset, groups, count, max_norm}.
//!include lib/grid.wgsl
override PHASE: u32 = 0u;
const WG: u32 = 256u;
//!include lib/workgroup_sum.wgsl

struct Params { n: u32, offset: u32, groups: u32, count: u32, max_norm: f32 }

@group(0) @binding(0) var<storage, read_write> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  if (PHASE == 0u) {
    let w = wid.x;
    var acc: f32 = 0.0;
    for (var k = w * WG + t; k < params.n; k += params.groups * WG) {
      let g = grad[k];
      acc += g * g;
    }
    let total = wg_sum(t, acc);
    if (t == 0u) { partials[params.offset + w] = total; }
  } else if (PHASE == 1u) {
    var acc: f32 = 0.0;
    for (var k = t; k < params.count; k += WG) { acc += partials[k]; }
    let total = wg_sum(t, acc);
    if (t == 0u) {
      let n = sqrt(total);
      norm[0] = n;
      partials[params.count] = min(1.0, params.max_norm / (n + 1e-6));
    }
  } else {
    let k = flat_id(wid, nwg) * WG + t;
    if (k < params.n) { grad[k] = grad[k] * partials[params.count]; }
  }
}
