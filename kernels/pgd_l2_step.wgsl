// One L2 PGD step per example b (rows of [N, F], F = all non-batch dims):
//   gn = max(||grad_b||_2, norm_floor); d = (x_adv_b + alpha * grad_b / gn) - x_b;
//   dn = max(||d||_2, norm_floor); x_adv_new_b = clamp(x_b + d * min(1, eps / dn), 0, 1).
// One workgroup per example computes both norms in workgroup memory (strided partial sums, then the tree of
// lib/workgroup_sum.wgsl), so the whole batch is one dispatch; d is recomputed in the last pass instead of
// being stored.
// eps and alpha are params.eps / params.alpha for the whole batch, or with EPS_PER_EXAMPLE / ALPHA_PER_EXAMPLE
// eps_rows[b] / alpha_rows[b] (lib/per_example.wgsl: a per-example eps that is NaN or < 0 reads as 0, +inf as
// the largest float32; a non-finite alpha as 0). Unused row buffers are bound to any buffer and never read.
// Bindings: x, x_adv, grad (read, f32 [N, F]), y (write, f32 [N, F]), eps_rows, alpha_rows (read, f32 [N]),
// params {batch, features, eps, alpha, norm_floor}.
//!include lib/grid.wgsl
//!include lib/per_example.wgsl
const WG: u32 = 256u;
//!include lib/workgroup_sum.wgsl
override EPS_PER_EXAMPLE: bool = false;
override ALPHA_PER_EXAMPLE: bool = false;

struct Params { batch: u32, features: u32, eps: f32, alpha: f32, norm_floor: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x_adv: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> eps_rows: array<f32>;
@group(0) @binding(5) var<storage, read> alpha_rows: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = flat_id(wid, nwg);
  let t = lid.x;
  let valid = row < params.batch;
  let base = row * params.features;
  let f = select(0u, params.features, valid);
  // Rows past the batch (a folded grid) compute nothing; they read row 0's values to stay in bounds.
  let r = select(0u, row, valid);
  var eps = params.eps;
  var alpha = params.alpha;
  if (EPS_PER_EXAMPLE) { eps = radius_or_zero(eps_rows[r]); }
  if (ALPHA_PER_EXAMPLE) { alpha = finite_or_zero(alpha_rows[r]); }

  var acc: f32 = 0.0;
  for (var k = t; k < f; k += WG) {
    let g = grad[base + k];
    acc += g * g;
  }
  let gn = max(sqrt(wg_sum(t, acc)), params.norm_floor);

  acc = 0.0;
  for (var k = t; k < f; k += WG) {
    let d = (x_adv[base + k] + alpha * grad[base + k] / gn) - x[base + k];
    acc += d * d;
  }
  let dn = max(sqrt(wg_sum(t, acc)), params.norm_floor);
  let factor = min(1.0, eps / dn);

  for (var k = t; k < f; k += WG) {
    let x0 = x[base + k];
    let d = (x_adv[base + k] + alpha * grad[base + k] / gn) - x0;
    y[base + k] = clamp(x0 + d * factor, 0.0, 1.0);
  }
}
