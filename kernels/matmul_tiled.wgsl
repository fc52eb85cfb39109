// y[z] = op(a[z]) @ op(b[z]), batched, workgroup-tiled: the same contract as matmul.wgsl (row-major operands,
// a [M, K] or [K, M] when TRANS_A, b [K, N] or [N, K] when TRANS_B, y [M, N], a_stride / b_stride the per-batch
// element strides, 0 broadcasting one matrix). Batch index = workgroup z; x = column tiles, y = row tiles.
// Bindings: a, b (read, f32), y (read_write, f32), params (uniform), a4, b4 (read, the buffers of a and b
// viewed as vec4<f32>; read only when VEC_A / VEC_B, always bound).
//
// For a GPU: each 16x16-thread workgroup stages BM x BK and BK x BN slices in workgroup memory and every
// element staged is used TM or 4*TN4 times from there (lib/gemm_tiled.wgsl). The register-blocked
// matmul.wgsl stays the kernel for lavapipe, whose workgroup memory is ordinary memory behind the same
// per-lane loads. Groups of four are fetched along the operand's contiguous dimension: VEC_A / VEC_B read them
// as one vec4 (that dimension and the batch stride multiples of 4), otherwise as four checked scalars.
// The next step's groups are fetched into registers before the current step is multiplied.
//!include lib/gemm_tiled.wgsl
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = false;
override VEC_B: bool = false;

struct Params { M: u32, N: u32, K: u32, a_stride: u32, b_stride: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;

// Group e of A's step slice: (row m, steps k..k+3) untransposed, (rows m..m+3, step k) transposed.
fn a_pos(e: u32) -> vec2<u32> {
  if (TRANS_A) { return vec2<u32>(e / (BM / 4u), 4u * (e % (BM / 4u))); }
  return vec2<u32>(4u * (e % (BK / 4u)), e / (BK / 4u));
}
// Group e of B's step slice as (k, n): (step k, columns n..n+3) untransposed, (steps k..k+3, column n) transposed.
fn b_pos(e: u32) -> vec2<u32> {
  if (TRANS_B) { return vec2<u32>(4u * (e % (BK / 4u)), e / (BK / 4u)); }
  return vec2<u32>(e / (BN / 4u), 4u * (e % (BN / 4u)));
}

// The four elements op(a)[m.., k..] of a group at global (k, m); 0 past the edges.
fn fetch_a(k: u32, m: u32, base: u32) -> vec4<f32> {
  let M = params.M;
  let K = params.K;
  // Along the contiguous dimension: element t is at idx + t; `n` elements exist past idx.
  var idx: u32;
  var n: u32;
  if (TRANS_A) {
    if (k >= K) { return vec4<f32>(0.0); }
    idx = base + k * M + m;
    n = select(0u, M - m, m < M);
  } else {
    if (m >= M) { return vec4<f32>(0.0); }
    idx = base + m * K + k;
    n = select(0u, K - k, k < K);
  }
  if (VEC_A) { return select(vec4<f32>(0.0), a4[select(0u, idx / 4u, n > 0u)], n > 0u); }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) { if (t < n) { v[t] = a[idx + t]; } }
  return v;
}

fn fetch_b(k: u32, n0: u32, base: u32) -> vec4<f32> {
  let N = params.N;
  let K = params.K;
  var idx: u32;
  var n: u32;
  if (TRANS_B) {
    if (n0 >= N) { return vec4<f32>(0.0); }
    idx = base + n0 * K + k;
    n = select(0u, K - k, k < K);
  } else {
    if (k >= K) { return vec4<f32>(0.0); }
    idx = base + k * N + n0;
    n = select(0u, N - n0, n0 < N);
  }
  if (VEC_B) { return select(vec4<f32>(0.0), b4[select(0u, idx / 4u, n > 0u)], n > 0u); }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) { if (t < n) { v[t] = b[idx + t]; } }
  return v;
}

fn fetch(pa: ptr<function, Fetched>, pb: ptr<function, Fetched>, tid: u32, k0: u32, m0: u32, n0: u32, abase: u32, bbase: u32) {
  for (var q = 0u; q < LA; q++) {
    let e = q * NT + tid;
    if (e < GA) { let p = a_pos(e); (*pa)[q] = fetch_a(k0 + p.x, m0 + p.y, abase); }
  }
  for (var q = 0u; q < LB; q++) {
    let e = q * NT + tid;
    if (e < GB) { let p = b_pos(e); (*pb)[q] = fetch_b(k0 + p.x, n0 + p.y, bbase); }
  }
}

fn stage(pa: ptr<function, Fetched>, pb: ptr<function, Fetched>, tid: u32) {
  for (var q = 0u; q < LA; q++) {
    let e = q * NT + tid;
    if (e < GA) {
      let p = a_pos(e);
      if (TRANS_A) { put_a_m4(p.x, p.y, (*pa)[q]); } else { put_a_k4(p.x, p.y, (*pa)[q]); }
    }
  }
  for (var q = 0u; q < LB; q++) {
    let e = q * NT + tid;
    if (e < GB) {
      let p = b_pos(e);
      if (TRANS_B) { put_b_k4(p.x, p.y, (*pb)[q]); } else { put_b_n4(p.x, p.y, (*pb)[q]); }
    }
  }
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let tx = tid % TX;
  let ty = tid / TX;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let abase = wid.z * params.a_stride;
  let bbase = wid.z * params.b_stride;
  let steps = (params.K + BK - 1u) / BK;

  var pa: Fetched;
  var pb: Fetched;
  var acc: Acc;
  fetch(&pa, &pb, tid, 0u, m0, n0, abase, bbase);
  stage(&pa, &pb, tid);
  workgroupBarrier();
  for (var s = 0u; s < steps; s++) {
    let more = s + 1u < steps;
    if (more) { fetch(&pa, &pb, tid, (s + 1u) * BK, m0, n0, abase, bbase); }
    tile_mac(&acc, tx, ty);
    workgroupBarrier();
    if (more) { stage(&pa, &pb, tid); }
    workgroupBarrier();
  }

  let M = params.M;
  let N = params.N;
  let ybase = wid.z * M * N;
  for (var i = 0u; i < TM; i++) {
    let row = m0 + tile_row(i, ty);
    if (row >= M) { continue; }
    for (var j = 0u; j < TN4; j++) {
      let col = n0 + tile_col(j, tx);
      for (var t = 0u; t < 4u; t++) {
        if (col + t < N) { y[ybase + row * N + col + t] = acc[i][j][t]; }
      }
    }
  }
}
