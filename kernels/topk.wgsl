// topk along the last axis of x [rows, len]: the k largest values of each row in descending order and their
// positions, NaN above every number and ties ranked the later position first: the last k entries of a
// stable ascending sort (torch.sort), read backwards, which is how AutoAttack picks its target classes and
// what margin.wgsl's DLR assumes. Element j's rank is the number of elements that sort before it, so
// each thread places one element with one pass over its row (rows are short: class logits).
// MODE 0 (forward): values [rows, k] (f32), indices [rows, k] (i32); one thread per input element.
// MODE 1 (backward): gx [rows, len] = g [rows, k] scattered to the saved indices (zero elsewhere); one
// thread per input element, which scans its row's k indices.
// Bindings: x (read, f32: the input in MODE 0, the upstream gradient g [rows, k] in MODE 1), idx (read_write,
// i32), out (read_write, f32: values in MODE 0, gx in MODE 1), params {rows, len, k}.
//!include lib/grid.wgsl
//!include lib/nan.wgsl
override MODE: u32 = 0u;
const WG: u32 = 256u;

struct Params { rows: u32, len: u32, k: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// a sorts before b (a at position i, b at position j).
fn before(a: f32, i: u32, b: f32, j: u32) -> bool {
  let na = is_nan(a);
  let nb = is_nan(b);
  if (na || nb) { return na && (!nb || i > j); }
  return a > b || (a == b && i > j);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = flat_id(wid, nwg) * WG + lid.x;
  let len = params.len;
  if (e >= params.rows * len) { return; }
  let row = e / len;
  let j = e % len;
  let k = params.k;
  if (MODE == 1u) {
    var acc = 0.0;
    for (var t = 0u; t < k; t++) {
      if (idx[row * k + t] == i32(j)) { acc += x[row * k + t]; }
    }
    out[e] = acc;
    return;
  }
  let v = x[e];
  var rank = 0u;
  for (var i = 0u; i < len; i++) {
    if (i != j && before(x[row * len + i], i, v, j)) { rank++; }
  }
  if (rank < k) {
    out[row * k + rank] = v;
    idx[row * k + rank] = i32(j);
  }
}
