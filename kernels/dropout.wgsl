// Inverted dropout with a given keep mask: y = x * (mask * scale), scale = 1 / (1 - p) (0 when p = 1), the
// order of PyTorch's `input * (bernoulli(1 - p) / (1 - p))`. The backward is the same kernel on the gradient.
// Bindings: x (read, f32), mask (read, f32 0/1), y (write, f32), params {n, scale}. One element per thread.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  y[i] = x[i] * (mask[i] * params.scale);
}
