// One L-inf PGD step: x_adv_new = clamp(min(max(x_adv + alpha * sign(grad), x - eps), x + eps), 0, 1),
// elementwise with sign(0) = 0, in that order (step, eps-box, [0, 1]; METHODS.md §10.8). Every operation is a
// single correctly rounded float32 add/sub or an exact min/max (alpha * sign is exact), so the result is
// bit-identical to a float32 evaluation of the same formula.
// eps and alpha are params.eps / params.alpha for the whole batch, or with EPS_PER_EXAMPLE / ALPHA_PER_EXAMPLE
// eps_rows[b] / alpha_rows[b] for the example b = i / features holding element i (lib/per_example.wgsl: a
// per-example eps that is NaN or < 0 reads as 0, +inf as the largest float32; a non-finite alpha as 0). Unused row
// buffers are bound to any buffer and never read; the scalar variant does not even divide.
// Layout: any shape, flat ([N, features] when per-example). Bindings: x, x_adv, grad (read, f32), y (write, f32),
// eps_rows, alpha_rows (read, f32 [N]), params {n, features, eps, alpha}. One element per thread; 1-D grid
// folded into 2-D.
//!include lib/grid.wgsl
//!include lib/per_example.wgsl
const WG: u32 = 256u;
override EPS_PER_EXAMPLE: bool = false;
override ALPHA_PER_EXAMPLE: bool = false;

struct Params { n: u32, features: u32, eps: f32, alpha: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x_adv: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> eps_rows: array<f32>;
@group(0) @binding(5) var<storage, read> alpha_rows: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  var eps = params.eps;
  var alpha = params.alpha;
  if (EPS_PER_EXAMPLE || ALPHA_PER_EXAMPLE) {
    let row = i / params.features;
    if (EPS_PER_EXAMPLE) { eps = radius_or_zero(eps_rows[row]); }
    if (ALPHA_PER_EXAMPLE) { alpha = finite_or_zero(alpha_rows[row]); }
  }
  let x0 = x[i];
  let stepped = x_adv[i] + alpha * sign(grad[i]);
  let boxed = min(max(stepped, x0 - eps), x0 + eps);
  y[i] = clamp(boxed, 0.0, 1.0);
}
