// y = f(a, b) with NumPy broadcasting, for one binary op chosen by the OP override (numbering in
// kernels/elementwise.ts); comparisons write 1.0 / 0.0. NaN propagates through minimum/maximum as in PyTorch.
// Bindings: a, b (read, f32), y (write, f32), params (lib/broadcast.wgsl). One element per thread.
//!include lib/grid.wgsl
//!include lib/nan.wgsl
//!include lib/pow.wgsl
//!include lib/broadcast.wgsl
override OP: u32 = 0u;
const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;


fn f(u: f32, v: f32) -> f32 {
  let nan = is_nan(u) || is_nan(v);
  switch OP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    case 3u: { return u / v; }
    case 4u: { return pow_real(u, v); }
    case 5u: { return select(min(u, v), u + v, nan); }
    case 6u: { return select(max(u, v), u + v, nan); }
    case 7u: { return select(0.0, 1.0, u == v); }
    case 8u: { return select(0.0, 1.0, u != v); }
    case 9u: { return select(0.0, 1.0, u < v); }
    case 10u: { return select(0.0, 1.0, u <= v); }
    case 11u: { return select(0.0, 1.0, u > v); }
    case 12u: { return select(0.0, 1.0, u >= v); }
    default: { return u; }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let o = operand_offsets(i);
  y[i] = f(a[o.x], b[o.y]);
}
