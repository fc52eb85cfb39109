// float32 <-> float16 storage for mixed precision: TO_HALF packs x (f32) into y as two binary16 values per
// 32-bit word (element 2i in the low half), rounded to nearest even; values past the f16 range become
// +-Infinity and NaN stays NaN, so overflow reaches the loss scaler's check instead of an arbitrary value
// (WGSL leaves out-of-range f32 -> f16 conversions and pack2x16float's undefined). The bits are computed
// here, not by the conversion, for that reason, and match engine/half.ts exactly. Otherwise y (f32) gets
// the halves of x, exactly. An odd count leaves the last upper half zero.
// Bindings: x (read, u32 words), y (read_write, u32 words), params {n: elements}. One thread per output word.
//!include lib/grid.wgsl
override TO_HALF: bool = true;
const WG: u32 = 256u;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn half_bits(w: u32) -> u32 {
  let sign = (w >> 16u) & 0x8000u;
  let e32 = (w >> 23u) & 0xffu;
  let man = w & 0x7fffffu;
  if (e32 == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u, man != 0u); }
  let e = i32(e32) - 112;
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    let m = man | 0x800000u;
    let shift = u32(14 - e);
    let halfway = 1u << (shift - 1u);
    let rest = m & ((1u << shift) - 1u);
    var r = m >> shift;
    if (rest > halfway || (rest == halfway && (r & 1u) == 1u)) { r += 1u; }
    return sign | r;
  }
  var r = (u32(e) << 10u) | (man >> 13u);
  let rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (r & 1u) == 1u)) { r += 1u; }
  return sign | r;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  let n = params.n;
  if (TO_HALF) {
    if (2u * i >= n) { return; }
    let lo = half_bits(x[2u * i]);
    let hi = select(0u, half_bits(x[2u * i + 1u]), 2u * i + 1u < n);
    y[i] = lo | (hi << 16u);
    return;
  }
  if (i >= n) { return; }
  let pair = unpack2x16float(x[i / 2u]);
  y[i] = bitcast<u32>(select(pair.x, pair.y, (i & 1u) == 1u));
}
