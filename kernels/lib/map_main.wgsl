// The entry point of the elementwise unary kernels (unary.wgsl, activation.wgsl): y[i] = f(x[i]) for
// i < params.n, one element per thread, 1-D grid folded into 2-D. The including kernel declares x, y, params
// (with n) and f; only f differs between them.
//!include lib/grid.wgsl
const WG: u32 = 256u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  y[i] = f(x[i]);
}
