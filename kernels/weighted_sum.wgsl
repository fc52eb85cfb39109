// y = sum_k a[k] * t_k elementwise over n elements, folded left in k ascending: ((a[0] t_0 + a[1] t_1) + ...).
// One pass takes the tensors t_{k0} .. t_{k0+count-1} in t0..t5; a longer sum chains passes, each later one
// continuing the fold from y (read in place), so the order and the result do not depend on how K is split.
// A coefficient of 0 (either sign) drops its term instead of adding it: one-hot coefficients give the chosen
// tensor bit for bit (-0s included) and 0 * inf or 0 * NaN contributes nothing; all-zero coefficients give
// +0. A NaN coefficient is a term like any other. Zeros are tested on the bits, as WGSL may assume no NaN.
// Bindings: y (read_write, f32 [n]), a (read, f32 [K]), t0..t5 (read, f32 [n]; those past count are bound to
// any buffer and never read), params {n, k0, count}: 8 storage buffers, WebGPU's minimum per shader stage.
// One element per thread; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, k0: u32, count: u32 }

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> t0: array<f32>;
@group(0) @binding(3) var<storage, read> t1: array<f32>;
@group(0) @binding(4) var<storage, read> t2: array<f32>;
@group(0) @binding(5) var<storage, read> t3: array<f32>;
@group(0) @binding(6) var<storage, read> t4: array<f32>;
@group(0) @binding(7) var<storage, read> t5: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

fn nonzero(c: f32) -> bool {
  return (bitcast<u32>(c) & 0x7fffffffu) != 0u;
}

// The fold so far, and whether it has a term yet (the first term starts it: 0 + -0 would lose a sign).
var<private> acc: f32;
var<private> started: bool;

fn add_term(c: f32, v: f32) {
  let p = c * v;
  acc = select(p, acc + p, started);
  started = true;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let k0 = params.k0;
  let count = params.count;
  // Earlier passes left a term in y unless all their coefficients were 0.
  started = false;
  for (var k = 0u; k < k0; k++) {
    if (nonzero(a[k])) { started = true; break; }
  }
  acc = 0.0;
  if (started) { acc = y[i]; }
  if (count > 0u && nonzero(a[k0])) { add_term(a[k0], t0[i]); }
  if (count > 1u && nonzero(a[k0 + 1u])) { add_term(a[k0 + 1u], t1[i]); }
  if (count > 2u && nonzero(a[k0 + 2u])) { add_term(a[k0 + 2u], t2[i]); }
  if (count > 3u && nonzero(a[k0 + 3u])) { add_term(a[k0 + 3u], t3[i]); }
  if (count > 4u && nonzero(a[k0 + 4u])) { add_term(a[k0 + 4u], t4[i]); }
  if (count > 5u && nonzero(a[k0 + 5u])) { add_term(a[k0 + 5u], t5[i]); }
  y[i] = acc;
}
