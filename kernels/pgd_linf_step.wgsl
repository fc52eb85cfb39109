// One L-inf PGD step: x_adv_new = clamp(min(max(x_adv + alpha * sign(grad), x - eps), x + eps), 0, 1),
// elementwise with sign(0) = 0, in that order (step, eps-box, [0, 1]; METHODS.md §10.8). Every operation is a
// single correctly rounded float32 add/sub or an exact min/max (alpha * sign is exact), so the result is
// bit-identical to a float32 evaluation of the same formula.
// Layout: any shape, flat. Bindings: x, x_adv, grad (read, f32), y (write, f32), params {n, eps, alpha}.
// One element per thread; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, eps: f32, alpha: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x_adv: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let x0 = x[i];
  let stepped = x_adv[i] + params.alpha * sign(grad[i]);
  let boxed = min(max(stepped, x0 - params.eps), x0 + params.eps);
  y[i] = clamp(boxed, 0.0, 1.0);
}
