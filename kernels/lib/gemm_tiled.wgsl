// The workgroup-tiled GEMM core of matmul_tiled.wgsl and conv2d_{fwd,dx,dw}_tiled.wgsl: 16x16 threads compute a
// BM x BN tile of y = A B (BM = 16*TM rows, BN = 64*TN4 columns), each thread TM rows x 4*TN4 columns in
// registers. The reduction runs in steps of BK: a step's slices A[BM, BK] and B[BK, BN] are staged in
// workgroup memory k-major (As[k][m], Bs[k][n], as vec4 along m and n), so the inner loop (tile_mac) reads a
// thread's rows and columns of one k as TM/4 + TN4 vec4 loads for TM*4*TN4 multiply-adds and has no edge tests.
// A thread's rows are interleaved at a stride of 64 (row 4*ty + c + 64*(i/4)), its columns likewise
// (4*tx + t + 64*j): the 16 lanes of a half-warp read 16 consecutive vec4s of Bs, without bank conflicts.
// Each kernel gathers its operands itself (a strided matrix, an im2col view): it fetches the next step's
// slices into registers (GA and GB groups of four values, LA and LB per thread) before consuming the
// current step, and stores them between two barriers; out-of-range elements are fetched as 0, so the edges
// are handled in the gathers and the write-back only. Storage: 4*BK*(BM + BN) bytes, which the TS wrapper
// checks against the device's maxComputeWorkgroupStorageSize (WebGPU does not check override-sized arrays).
override TM: u32 = 4u;
override TN4: u32 = 1u;
override BK: u32 = 16u;
const TX: u32 = 16u;
const TY: u32 = 16u;
const NT: u32 = 256u;
const MAX_TM: u32 = 8u;
const MAX_TN4: u32 = 2u;
// Fetches per thread and operand: at most BM*BK/4 / NT = 8*32/64 = 4.
const MAX_LOADS: u32 = 4u;
override BM: u32 = TY * TM;
override BN: u32 = 4u * TX * TN4;
override GA: u32 = BM * BK / 4u;
override GB: u32 = BK * BN / 4u;
override LA: u32 = (GA + NT - 1u) / NT;
override LB: u32 = (GB + NT - 1u) / NT;

var<workgroup> As: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;

alias Acc = array<array<vec4<f32>, MAX_TN4>, MAX_TM>;
alias Fetched = array<vec4<f32>, MAX_LOADS>;

// Row (within the tile) of a thread's i-th row, and first column of its j-th vec4 of columns.
fn tile_row(i: u32, ty: u32) -> u32 { return (i / 4u) * (4u * TY) + 4u * ty + i % 4u; }
fn tile_col(j: u32, tx: u32) -> u32 { return j * (4u * TX) + 4u * tx; }

// A group of four along k at row m (k a multiple of 4), or along m at step row k (m a multiple of 4).
fn put_a_k4(k: u32, m: u32, v: vec4<f32>) {
  let s = m / 4u;
  let c = m % 4u;
  for (var t = 0u; t < 4u; t++) { As[(k + t) * (BM / 4u) + s][c] = v[t]; }
}
fn put_a_m4(k: u32, m: u32, v: vec4<f32>) { As[k * (BM / 4u) + m / 4u] = v; }
fn put_b_k4(k: u32, n: u32, v: vec4<f32>) {
  let s = n / 4u;
  let c = n % 4u;
  for (var t = 0u; t < 4u; t++) { Bs[(k + t) * (BN / 4u) + s][c] = v[t]; }
}
fn put_b_n4(k: u32, n: u32, v: vec4<f32>) { Bs[k * (BN / 4u) + n / 4u] = v; }

// acc += As^T Bs over the staged step, for the thread at (tx, ty).
fn tile_mac(acc: ptr<function, Acc>, tx: u32, ty: u32) {
  for (var k = 0u; k < BK; k++) {
    var av: array<vec4<f32>, 2>;
    for (var i4 = 0u; i4 < TM / 4u; i4++) { av[i4] = As[k * (BM / 4u) + i4 * TY + ty]; }
    var bv: array<vec4<f32>, MAX_TN4>;
    for (var j = 0u; j < TN4; j++) { bv[j] = Bs[k * (BN / 4u) + j * TX + tx]; }
    for (var i = 0u; i < TM; i++) {
      let a = vec4<f32>(av[i / 4u][i % 4u]);
      for (var j = 0u; j < TN4; j++) { (*acc)[i][j] = fma(a, bv[j], (*acc)[i][j]); }
    }
  }
}
