// The last pass of compactIndices (kernels/scan.ts): with p = e[i] + offsets[i / 1024] the number of true mask
// elements before i (e: the first scan level, offsets: the finished scan of its block totals) and count the total,
// a true element i writes indices[p] = i, and a false one writes indices[count + i - p] = -1 (i - p false elements
// precede it), so every slot of indices [n] is written exactly once: positions in increasing order, then -1s.
// Bindings: mask (read, u32 words, lib/mask.wgsl), e, offsets, count (read, u32), indices (write, i32), params.
// One element per thread.
//!include lib/grid.wgsl
//!include lib/mask.wgsl
const WG: u32 = 256u;
const BLOCK: u32 = 1024u;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> mask: array<u32>;
@group(0) @binding(1) var<storage, read> e: array<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read> count: array<u32>;
@group(0) @binding(4) var<storage, read_write> indices: array<i32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  let p = e[i] + offsets[i / BLOCK];
  if (mask_value(mask[i]) != 0u) {
    indices[p] = i32(i);
  } else {
    indices[count[0] + i - p] = -1;
  }
}
