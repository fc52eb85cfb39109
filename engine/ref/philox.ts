/**
 * Pure-JS reference of Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011; Random123), written with integer arithmetic only: 32-bit products are split into
 * 16-bit halves so that every intermediate stays an exact integer below 2^53, and nothing is rounded.
 * It exists for tests: the GPU kernel (kernels/philox.wgsl) must reproduce it bit for bit, and it is
 * itself checked against Random123's published known-answer vectors.
 */

export type Words4 = [number, number, number, number];
export type Key2 = [number, number];

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

/** The 64-bit product of two u32 as [hi, lo] (both u32). */
export function mulhilo32(a: number, b: number): [number, number] {
  const aLo = a & 0xffff, aHi = a >>> 16;
  const bLo = b & 0xffff, bHi = b >>> 16;
  const ll = aLo * bLo; // < 2^32 each
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff); // < 3 * 2^16
  const hi = (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 0x10000)) >>> 0;
  const lo = (((mid & 0xffff) * 0x10000) + (ll & 0xffff)) >>> 0;
  return [hi, lo];
}

/** One Philox4x32 block: `rounds` rounds (10 for Philox4x32-10) of the counter under the key. */
export function philox4x32(counter: Words4, key: Key2, rounds = 10): Words4 {
  let [c0, c1, c2, c3] = counter.map((x) => x >>> 0) as Words4;
  let [k0, k1] = key.map((x) => x >>> 0) as Key2;
  for (let r = 0; r < rounds; r++) {
    const [hi0, lo0] = mulhilo32(PHILOX_M0, c0);
    const [hi1, lo1] = mulhilo32(PHILOX_M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/**
 * The first n raw words of one call in the engine's layout (kernels/philox.wgsl): block t is
 * philox4x32((offset + t) as a 64-bit (lo, hi) pair, 0, 0; key) and gives outputs 4t .. 4t+3.
 */
export function philoxStream(key: Key2, offset: Key2, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let t = 0; 4 * t < n; t++) {
    const lo = (offset[0] + t) >>> 0;
    const carry = offset[0] + t >= 0x100000000 ? 1 : 0;
    const hi = (offset[1] + carry) >>> 0;
    const r = philox4x32([lo, hi, 0, 0], key);
    for (let j = 0; j < 4 && 4 * t + j < n; j++) out[4 * t + j] = r[j]!;
  }
  return out;
}

/** randint's integer map of one word: low + floor(word * range / 2^32) (the high word of the product). */
export function randintFromWord(word: number, low: number, range: number): number {
  return low + mulhilo32(word, range)[0];
}
