/** Wrapper of philox.wgsl: counter-based random words, uniforms, normals and integers. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const philox = Kernel.fromFile('philox', 'philox.wgsl');
export const DISTRIBUTIONS = { uniform: 0, normal: 1, randint: 2, bits: 3 } as const;
export type Distribution = keyof typeof DISTRIBUTIONS;

export interface PhiloxArgs {
  n: number; key: [number, number]; offset: [number, number]; dist: Distribution;
  low?: number; high?: number; ilow?: number; range?: number;
}

/** Philox blocks (4 outputs each) consumed by `n` outputs: the generator's offset advances by this much. */
export function philoxBlocks(n: number): number {
  return Math.ceil(n / 4);
}

export function runPhilox(d: Dispatcher, y: GPUBufferBinding, a: PhiloxArgs): void {
  if (a.n === 0) return;
  d.run(philox, {
    buffers: { y },
    params: { n: a.n, key0: a.key[0], key1: a.key[1], off_lo: a.offset[0], off_hi: a.offset[1], low: a.low ?? 0, high: a.high ?? 1, ilow: a.ilow ?? 0, range: a.range ?? 0 },
    overrides: { DIST: DISTRIBUTIONS[a.dist] },
    workgroups: grid1d(philoxBlocks(a.n), 64),
  });
}
