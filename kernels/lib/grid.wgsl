// Grids larger than 65535 workgroups are folded into two dimensions (see kernels/grid.ts); this turns the
// workgroup id back into a flat index.
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}
