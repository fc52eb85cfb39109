// Converts 32-bit words between dtypes, elementwise: FROM / TO 0 = f32, 1 = i32, 2 = u32. Integer to float
// rounds to nearest (exact below 2^24, as every label is); float to integer truncates toward zero as
// torch's .to(int) does, NaN giving 0 and out-of-range values saturating (WGSL's conversion rule).
// Bindings: x (read, u32 words), y (read_write, u32 words), params {n}.
//!include lib/grid.wgsl
override FROM: u32 = 1u;
override TO: u32 = 0u;
const WG: u32 = 256u;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn as_f32(w: u32) -> f32 {
  if (FROM == 1u) { return f32(bitcast<i32>(w)); }
  if (FROM == 2u) { return f32(w); }
  return bitcast<f32>(w);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let w = x[i];
  if (TO == 0u) { y[i] = bitcast<u32>(as_f32(w)); return; }
  if (FROM != 0u) {
    // Between the integer types the bits are reinterpreted (as a C cast does).
    y[i] = w;
    return;
  }
  let v = bitcast<f32>(w);
  let nan = (w & 0x7fffffffu) > 0x7f800000u;
  if (TO == 1u) { y[i] = select(bitcast<u32>(i32(v)), 0u, nan); } else { y[i] = select(u32(v), 0u, nan); }
}
