// The entry point of reduce_axis.wgsl (f32 elements) and reduce_axis_vec4.wgsl (vec4 elements): for x viewed
// as [A, R, B] elements (b contiguous), thread i = (a, c, b) reduces x[a, j, b] over j in chunk c,
// [c*chunk, min((c+1)*chunk, R)), with OP (0 sum, 1 max, 2 min), and hands the result to `store`.
// The including kernel declares the element type V, x (array<V>), y, params {n = A*C*B, r, b, c, chunk, ...},
// nan_of(V) (the lanes holding NaN) and store(i, acc) (which scales sums). Every chunk is non-empty for
// max/min, which return NaN where any value is NaN, as PyTorch.
// A sequential loop per thread and no workgroup memory or barriers: they are costly on CPU implementations
// (lavapipe); with b fastest, adjacent threads read adjacent words when B > 1.
//!include lib/grid.wgsl
//!include lib/nan.wgsl
override OP: u32 = 0u;
const WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let stride = params.b;
  let ac = i / stride;
  let c = ac % params.c;
  let j0 = c * params.chunk;
  let len = min(params.chunk, params.r - j0);
  var p = ((ac / params.c) * params.r + j0) * stride + i % stride;
  if (OP == 0u) {
    // Four independent sums, so that the loads of an iteration need not wait for each other's adds.
    var s0 = V(0.0);
    var s1 = V(0.0);
    var s2 = V(0.0);
    var s3 = V(0.0);
    var k: u32 = 0u;
    for (; k + 3u < len; k += 4u) {
      s0 += x[p];
      s1 += x[p + stride];
      s2 += x[p + 2u * stride];
      s3 += x[p + 3u * stride];
      p += 4u * stride;
    }
    for (; k < len; k++) { s0 += x[p]; p += stride; }
    let s = (s0 + s1) + (s2 + s3);
    store(i, s);
  } else {
    var acc = x[p];
    var nan = nan_of(acc);
    for (var k: u32 = 1u; k < len; k++) {
      p += stride;
      let v = x[p];
      nan = nan | nan_of(v);
      acc = select(acc, v, select((v < acc), (v > acc), OP == 1u));
    }
    store(i, select(acc, V(bitcast<f32>(NAN_BITS)), nan));
  }
}
