/**
 * Wrappers of scan.wgsl, scan_add.wgsl and compact.wgsl: a multi-level exclusive prefix sum over a mask, and the
 * compaction of the mask's true positions built on it, with no readback.
 */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const scan = Kernel.fromFile('scan', 'scan.wgsl');
const scanAdd = Kernel.fromFile('scan_add', 'scan_add.wgsl');
const compact = Kernel.fromFile('compact', 'compact.wgsl');

/** Values per scan block (scan.wgsl's BLOCK). */
export const SCAN_BLOCK = 1024;

/** How a mask's words are read: float32 (nonzero, NaN true) or int32/uint32 (nonzero). */
export type MaskKind = 'float' | 'int';
const MASK = { float: 1, int: 2 } as const;

/**
 * The lengths of the arrays each scan level scans: n, then its block totals, and so on until one block holds
 * them all; at least two levels, so that the compaction always has a scanned level of block offsets.
 */
export function scanLevels(n: number): number[] {
  const levels = [n];
  while (levels.length < 2 || levels[levels.length - 1]! > SCAN_BLOCK) levels.push(Math.ceil(levels[levels.length - 1]! / SCAN_BLOCK));
  return levels;
}

/**
 * indices[0, count) = the positions of mask's true elements (of n) in increasing order, indices[count, n) = -1, and
 * count[0] = how many. `scratch(words)` gives a buffer for temporaries (each level's scan and block totals).
 * Dispatches: one per level, one per level above the second (finishing the scans top down), and the compaction.
 */
export function runCompactIndices(d: Dispatcher, mask: GPUBufferBinding, n: number, kind: MaskKind, indices: GPUBufferBinding, count: GPUBufferBinding, scratch: (words: number) => GPUBufferBinding): void {
  const levels = scanLevels(n);
  // scans[j]: level j's scan (within blocks until finished); its input is the mask, then the level below's totals.
  const scans: GPUBufferBinding[] = [];
  let src = mask;
  levels.forEach((len, j) => {
    const out = scratch(len);
    const sums = j + 1 < levels.length ? scratch(levels[j + 1]!) : count;
    d.run(scan, { buffers: { src, out, sums }, params: { n: len }, overrides: { MASK: j === 0 ? MASK[kind] : 0 }, workgroups: grid1d(Math.ceil(len / SCAN_BLOCK), 1) });
    scans.push(out);
    src = sums;
  });
  // The compaction adds the finished level 1 to level 0 itself.
  for (let j = levels.length - 2; j >= 1; j--) {
    d.run(scanAdd, { buffers: { e: scans[j]!, offsets: scans[j + 1]! }, params: { n: levels[j]! }, workgroups: grid1d(levels[j]!, scanAdd.workgroupSize[0]) });
  }
  d.run(compact, { buffers: { mask, e: scans[0]!, offsets: scans[1]!, count, indices }, params: { n }, overrides: { MASK: MASK[kind] }, workgroups: grid1d(n, compact.workgroupSize[0]) });
}
