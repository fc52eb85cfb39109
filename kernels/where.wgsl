// y = cond != 0 ? a : b with NumPy broadcasting of all three operands.
// Bindings: cond, a, b (read, f32), y (write, f32), params (lib/broadcast.wgsl). One element per thread.
//!include lib/grid.wgsl
//!include lib/broadcast.wgsl
const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> cond: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  // The broadcast offsets are in operand order: .x for cond, .y for a, .z for b.
  let o = operand_offsets(i);
  y[i] = select(b[o.z], a[o.y], cond[o.x] != 0.0);
}
