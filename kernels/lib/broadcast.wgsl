// Broadcast indexing for up to three operands of rank <= 8. shape is the output shape, sa/sb/sc the
// operands' element strides as if broadcast to it (0 on broadcast dims), all packed four to a vec4.
struct Params {
  n: u32,
  rank: u32,
  contiguous: u32,
  shape: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
  sc: array<vec4<u32>, 2>,
}

fn operand_offsets(i: u32) -> vec3<u32> {
  if (params.contiguous != 0u) { return vec3<u32>(i, i, i); }
  var rest = i;
  var off = vec3<u32>(0u, 0u, 0u);
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let q = u32(d) >> 2u;
    let r = u32(d) & 3u;
    let extent = params.shape[q][r];
    let c = rest % extent;
    rest = rest / extent;
    off += c * vec3<u32>(params.sa[q][r], params.sb[q][r], params.sc[q][r]);
  }
  return off;
}
