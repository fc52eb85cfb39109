// y[z] = op(a[z]) @ op(b[z]), batched; op transposes when TRANS_A / TRANS_B. Row-major operands:
// a is [M, K] ([K, M] when TRANS_A), b is [K, N] ([N, K] when TRANS_B), y is [M, N]; a_stride/b_stride are
// the per-batch element strides (0 broadcasts one matrix over the batch). Batch index = workgroup z.
// Bindings: a, b (read, f32), y (read_write, f32), params (uniform), b4 (read, the buffer of b viewed as
// vec4<f32>; read only when VEC_B, but always bound).
//
// Each thread keeps a ROWS x (4 * COLS4) block of y in registers (8x8 threads, so a workgroup covers
// 8*ROWS rows and 32*COLS4 columns) and reads the operands straight from global memory. On lavapipe every
// load of a buffer element becomes a bounds-checked scalar load per SIMD lane, about ten instructions,
// while the multiply-adds run 8 lanes wide: the loads per k step (ROWS + 4*COLS4) against the multiply-adds
// (ROWS * 4*COLS4) set the speed, so the block is large (12x16 by default; 16x16 was within noise of it and
// compiles 50% longer). Workgroup-memory tiling measured slower there.
// VEC_B (b not transposed, N and b_stride multiples of 4) reads four columns as one vec4: one lane-mask
// test per 4 elements instead of per element. Unrolling k by 4 gave no reliable gain; helper functions
// taking the accumulators by pointer or by value ran 1.5-2x slower, so the loop body is written inline.
// Rows/cols past the edge load clamped (in-bounds) values and are dropped at the write, so the k loop
// has no branches.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_B: bool = false;
// rows (1 to MAX_ROWS - 1) and vec4 columns (1 to MAX_COLS4) per thread; smaller for small M / N so
// that few threads compute rows or columns that do not exist
override ROWS: u32 = 12u;
override COLS4: u32 = 4u;
// Keep MAX_ROWS above the ROWS in use: with ROWS == MAX_ROWS = 12, lavapipe took 9 s instead of 1.5 s to
// compile the pipeline and the kernel ran 1.4x slower.
const MAX_ROWS: u32 = 16u;
const MAX_COLS4: u32 = 4u;
const WX: u32 = 8u;
const WY: u32 = 8u;

struct Params { M: u32, N: u32, K: u32, a_stride: u32, b_stride: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> b4: array<vec4<f32>>;

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let row0 = (wid.y * WY + lid.y) * ROWS;
  let col0 = (wid.x * WX + lid.x) * 4u * COLS4;
  if (row0 >= M || col0 >= N) { return; }
  let abase = wid.z * params.a_stride;
  let bbase = wid.z * params.b_stride;

  // Element index of op(a)[row, 0] and op(b)[0, col]; k advances them by astep / bstep.
  var ra: array<u32, MAX_ROWS>;
  for (var i = 0u; i < ROWS; i++) {
    let r = min(row0 + i, M - 1u);
    ra[i] = abase + select(r * K, r, TRANS_A);
  }
  let astep = select(1u, M, TRANS_A);
  var cb: array<vec4<u32>, MAX_COLS4>;
  for (var j = 0u; j < COLS4; j++) {
    let c = min(vec4<u32>(col0 + 4u * j) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(N - 1u));
    cb[j] = vec4<u32>(bbase) + select(c, c * K, TRANS_B);
  }
  let bstep = select(N, 1u, TRANS_B);

  var acc: array<array<vec4<f32>, MAX_COLS4>, MAX_ROWS>;
  for (var k = 0u; k < K; k++) {
    var bv: array<vec4<f32>, MAX_COLS4>;
    for (var j = 0u; j < COLS4; j++) {
      let q = cb[j] + vec4<u32>(k * bstep);
      // With VEC_B, q.x is a multiple of 4 for in-range columns (N, b_stride and col0 are); past the edge
      // it is clamped and rounds down to the last vec4, whose values the write drops.
      if (VEC_B) { bv[j] = b4[q.x / 4u]; } else { bv[j] = vec4<f32>(b[q.x], b[q.y], b[q.z], b[q.w]); }
    }
    for (var i = 0u; i < ROWS; i++) {
      let av = vec4<f32>(a[ra[i] + k * astep]);
      for (var j = 0u; j < COLS4; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
    }
  }

  let ybase = wid.z * M * N;
  for (var i = 0u; i < ROWS; i++) {
    let row = row0 + i;
    if (row >= M) { break; }
    for (var j = 0u; j < 4u * COLS4; j++) {
      if (col0 + j < N) { y[ybase + row * N + col0 + j] = acc[i][j / 4u][j % 4u]; }
    }
  }
}
