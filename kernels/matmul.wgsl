// y[z] = op(a[z]) @ op(b[z]), batched; op transposes when TRANS_A / TRANS_B. Row-major operands:
// a is [M, K] ([K, M] when TRANS_A), b is [K, N] ([N, K] when TRANS_B), y is [M, N]; a_stride/b_stride are
// the per-batch element strides (0 broadcasts one matrix over the batch). Batch index = workgroup z.
// Each thread keeps a 4x4 block of y in registers and reads operands straight from global memory: on
// lavapipe that beat workgroup-memory tiling 2-3x. Rows/cols past the edge load clamped (in-bounds) values
// and are dropped at the write, so the k loop has no branches.
// Bindings: a, b (read, f32), y (write, f32), params.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
const WX: u32 = 8u;
const WY: u32 = 8u;

struct Params { M: u32, N: u32, K: u32, a_stride: u32, b_stride: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn load_a(base: u32, r: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[base + k * params.M + r]; }
  return a[base + r * params.K + k];
}

fn load_b(base: u32, k: u32, c: u32) -> f32 {
  if (TRANS_B) { return b[base + c * params.K + k]; }
  return b[base + k * params.N + c];
}

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let row0 = (wid.y * WY + lid.y) * 4u;
  let col0 = (wid.x * WX + lid.x) * 4u;
  if (row0 >= M || col0 >= N) { return; }
  let abase = wid.z * params.a_stride;
  let bbase = wid.z * params.b_stride;
  let r = min(vec4<u32>(row0, row0 + 1u, row0 + 2u, row0 + 3u), vec4<u32>(M - 1u));
  let c = min(vec4<u32>(col0, col0 + 1u, col0 + 2u, col0 + 3u), vec4<u32>(N - 1u));
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = 0u; k < params.K; k++) {
    let bv = vec4<f32>(load_b(bbase, k, c.x), load_b(bbase, k, c.y), load_b(bbase, k, c.z), load_b(bbase, k, c.w));
    acc0 = fma(vec4<f32>(load_a(abase, r.x, k)), bv, acc0);
    acc1 = fma(vec4<f32>(load_a(abase, r.y, k)), bv, acc1);
    acc2 = fma(vec4<f32>(load_a(abase, r.z, k)), bv, acc2);
    acc3 = fma(vec4<f32>(load_a(abase, r.w, k)), bv, acc3);
  }
  let ybase = wid.z * M * N;
  let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (col0 + j < N) { y[ybase + row * N + col0 + j] = rows[i][j]; }
    }
  }
}
