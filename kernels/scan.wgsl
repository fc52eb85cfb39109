// One level of an exclusive prefix sum, in blocks of BLOCK = PER * WG = 1024 values (kernels/scan.ts chains the
// levels): out[i] = the sum of the values before i in i's block, sums[b] = block b's total, which the next level
// scans. The first level reads a mask and counts its true elements (lib/mask.wgsl). Within a block: coalesced
// loads into workgroup memory, each thread sums PER consecutive values, a Hillis-Steele scan over the WG thread
// totals, then each thread writes its PER prefixes. u32 arithmetic: exact up to 2^32 - 1.
// Bindings: src (read, u32 words), out (write, u32), sums (write, u32), params. One workgroup per block.
//!include lib/grid.wgsl
//!include lib/mask.wgsl
const WG: u32 = 256u;
const PER: u32 = 4u;
const BLOCK: u32 = 1024u;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> vals: array<u32, BLOCK>;
var<workgroup> part: array<u32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = flat_id(wid, nwg);
  let t = lid.x;
  let base = b * BLOCK;
  for (var j = 0u; j < PER; j++) {
    let i = base + j * WG + t;
    var v = 0u;
    if (i < params.n) { v = mask_value(src[i]); }
    vals[j * WG + t] = v;
  }
  workgroupBarrier();
  var pre: array<u32, PER>;
  var run = 0u;
  for (var j = 0u; j < PER; j++) {
    pre[j] = run;
    run += vals[t * PER + j];
  }
  part[t] = run;
  workgroupBarrier();
  for (var s = 1u; s < WG; s = s << 1u) {
    var add = 0u;
    if (t >= s) { add = part[t - s]; }
    workgroupBarrier();
    part[t] += add;
    workgroupBarrier();
  }
  // part[t] is now inclusive; the thread's exclusive offset leaves its own total out.
  let offset = part[t] - run;
  for (var j = 0u; j < PER; j++) { vals[t * PER + j] = offset + pre[j]; }
  workgroupBarrier();
  for (var j = 0u; j < PER; j++) {
    let i = base + j * WG + t;
    if (i < params.n) { out[i] = vals[j * WG + t]; }
  }
  if (t == WG - 1u) { sums[b] = part[WG - 1u]; }
}
