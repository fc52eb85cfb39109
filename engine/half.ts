/**
 * IEEE binary16 on the CPU (Node 20 has no Float16Array or Math.f16round): float32 values to half bits with
 * round-to-nearest-even, bit for bit as kernels/cast_f16.wgsl on the GPU, and back. What uploads
 * and reads of float16 tensors, and the float16 references of the audit, go through.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `x` (ties to even); overflow gives +-Infinity, NaN stays NaN. */
export function halfBits(x: number): number {
  f32[0] = x;
  const w = u32[0]!;
  const sign = (w >>> 16) & 0x8000;
  const exp = (w >>> 23) & 0xff;
  const man = w & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half (or zero): the 24-bit significand shifted right by 14 - e places, rounded to even
    if (e < -10) return sign;
    const m = man | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // a carry into the exponent is still right (up to Inf)
  return sign | r;
}

/** The value of binary16 bits `h`. */
export function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** `x` rounded to the nearest binary16 value (what storing it as float16 keeps). */
export function halfRound(x: number): number {
  return halfValue(halfBits(x));
}

/** Half bits of `data`, two per 32-bit word, little-endian; an odd count leaves the last upper half zero. */
export function encodeHalves(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(data.length + (data.length % 2));
  for (let i = 0; i < data.length; i++) out[i] = halfBits(data[i]!);
  return out;
}

/** The first `n` halves of `buf` as float32 values. */
export function decodeHalves(buf: ArrayBuffer, n: number): Float32Array {
  const h = new Uint16Array(buf, 0, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfValue(h[i]!);
  return out;
}
