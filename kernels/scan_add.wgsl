// Finishes one level of a multi-level exclusive scan (kernels/scan.ts): e[i] += offsets[i / 1024], where offsets
// is the finished exclusive scan of the level's block totals. In place. Bindings: e (read_write, u32), offsets
// (read, u32), params. One element per thread.
//!include lib/grid.wgsl
const WG: u32 = 256u;
const BLOCK: u32 = 1024u;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read_write> e: array<u32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  e[i] += offsets[i / BLOCK];
}
