// How scan.wgsl and compact.wgsl read one word of their input. MASK 1: a float32 mask, true (1) where nonzero
// (tested on the bits, so -0 is false and NaN true, as bool() in PyTorch, whatever the float mode); MASK 2: an
// int32/uint32 mask, true where nonzero; MASK 0: a count, as is (the scan levels above the first).
override MASK: u32 = 0u;

fn mask_value(w: u32) -> u32 {
  if (MASK == 1u) { return select(0u, 1u, (w & 0x7fffffffu) != 0u); }
  if (MASK == 2u) { return select(0u, 1u, w != 0u); }
  return w;
}
