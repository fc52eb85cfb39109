// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011): block t of a call is
// philox(counter = (offset + t) as 64 bits, 0, 0; key = seed) and yields the 4 outputs 4t..4t+3.
// DIST 0: uniform [low, high); 1: normal(mean = low, std = high) by Box-Muller on output pairs;
// 2: integers in [ilow, ilow + range) as i32 words (high 32 bits of u32 * range); 3: raw u32 words.
// Bindings: y (write, 32-bit words), params. One Philox block (4 outputs) per thread.
//!include lib/grid.wgsl
override DIST: u32 = 0u;
const WG: u32 = 64u;

struct Params { n: u32, key0: u32, key1: u32, off_lo: u32, off_hi: u32, low: f32, high: f32, ilow: i32, range: u32 }

@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;

// The 64-bit product of two u32 as (hi, lo), from 16-bit halves (WGSL has no u64).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a_lo = a & 0xffffu; let a_hi = a >> 16u;
  let b_lo = b & 0xffffu; let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  let lo = (mid << 16u) | (ll & 0xffffu);
  return vec2<u32>(hi, lo);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

// 24 random bits to a float in [0, 1), exactly representable.
fn unit(u: u32) -> f32 { return f32(u >> 8u) * (1.0 / 16777216.0); }

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = flat_id(wid, nwg) * WG + lid.x;
  let first = t * 4u;
  if (first >= params.n) { return; }
  let lo = params.off_lo + t;
  let hi = params.off_hi + select(0u, 1u, lo < t);
  let r = philox(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(params.key0, params.key1));
  var out = r;
  if (DIST == 0u) {
    let s = params.high - params.low;
    let v = vec4<f32>(unit(r.x), unit(r.y), unit(r.z), unit(r.w)) * s + params.low;
    // u * s + low can round up to high (u = 1 - 2^-24, low = 1, high = 2); map it to low, as torch's uniform_.
    out = bitcast<vec4<u32>>(select(v, vec4<f32>(params.low), v == vec4<f32>(params.high)));
  } else if (DIST == 1u) {
    // (0, 1] for the radius so that log never sees 0.
    let u1 = vec2<f32>(f32((r.x >> 8u) + 1u), f32((r.z >> 8u) + 1u)) * (1.0 / 16777216.0);
    let u2 = vec2<f32>(unit(r.y), unit(r.w));
    let rad = sqrt(-2.0 * log(u1));
    let th = 6.283185307179586 * u2;
    let z = vec4<f32>(rad.x * cos(th.x), rad.x * sin(th.x), rad.y * cos(th.y), rad.y * sin(th.y));
    out = bitcast<vec4<u32>>(z * params.high + params.low);
  } else if (DIST == 2u) {
    out = vec4<u32>(
      bitcast<u32>(params.ilow + i32(mulhilo(r.x, params.range).x)),
      bitcast<u32>(params.ilow + i32(mulhilo(r.y, params.range).x)),
      bitcast<u32>(params.ilow + i32(mulhilo(r.z, params.range).x)),
      bitcast<u32>(params.ilow + i32(mulhilo(r.w, params.range).x)));
  }
  for (var j = 0u; j < 4u; j++) {
    if (first + j < params.n) { y[first + j] = out[j]; }
  }
}
