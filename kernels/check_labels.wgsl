// Range check of int32 labels (or class indices) [N] against [0, K), for ops whose own kernels read them through
// gather (which reads an out-of-range index as 0, for compaction's padding): every bad label is reported through
// range_errors (lib/range_check.wgsl), and the next read on the host throws naming the op, the first bad index and
// its value. Writes nothing else.
// Bindings: labels (read, i32), params {n, classes}, range_errors (bound by the device). One thread per label.
//!include lib/grid.wgsl
//!include lib/range_check.wgsl
const WG: u32 = 64u;

struct Params { n: u32, classes: u32 }

@group(0) @binding(0) var<storage, read> labels: array<i32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let v = labels[i];
  if (!in_range(v, params.classes)) { report_out_of_range(RANGE_LABEL, i, v, params.classes); }
}
