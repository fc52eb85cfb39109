/**
 * Wrappers of weighted_sum.wgsl (y = sum_k a_k t_k in chained passes), weighted_sum_dot.wgsl (the K dot
 * products sum(g * t_k), per workgroup, then reduce.wgsl over the workgroups) and weighted_sum_scale.wgsl.
 */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';
import { runReduce } from './reduce.js';

const sumKernel = Kernel.fromFile('weighted_sum', 'weighted_sum.wgsl');
const dotKernel = Kernel.fromFile('weighted_sum_dot', 'weighted_sum_dot.wgsl');
const scaleKernel = Kernel.fromFile('weighted_sum_scale', 'weighted_sum_scale.wgsl');

/** A kernel's tensor slots t0, t1, ... in order, and how many other storage buffers it binds. */
function slots(k: Kernel): { terms: string[]; others: number } {
  const terms = k.bindings.filter((b) => /^t\d+$/.test(b.name)).map((b) => b.name);
  return { terms, others: k.bindings.filter((b) => b.kind !== 'uniform').length - terms.length };
}

/**
 * How many tensors one pass of `kernel` takes: its t-slots, or fewer where the device binds fewer storage
 * buffers per shader stage (never on a conforming adapter: the kernels bind 8, WebGPU's minimum).
 */
function termsPerPass(kernel: Kernel, storageLimit: number): number {
  const s = slots(kernel);
  const n = Math.min(s.terms.length, storageLimit - s.others);
  if (n < 1) throw new RangeError(`kernel '${kernel.name}': the device binds ${storageLimit} storage buffers per shader stage, it needs at least ${s.others + 1}`);
  return n;
}

/** Passes of at most `per` tensors over K: [k0, count] each. */
function passes(K: number, per: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k0 = 0; k0 < K; k0 += per) out.push([k0, Math.min(per, K - k0)]);
  return out;
}

/** t0..t{slots-1} for one pass: the pass's tensors, then its first one again for the slots it leaves unread. */
function termBuffers(kernel: Kernel, ts: readonly GPUBufferBinding[], k0: number, count: number): Record<string, GPUBufferBinding> {
  return Object.fromEntries(slots(kernel).terms.map((name, j) => [name, ts[k0 + (j < count ? j : 0)]!]));
}

/** Dispatches of runWeightedSum for K tensors (one when K fits one pass). */
export function weightedSumPasses(K: number, storageLimit: number): number {
  return passes(K, termsPerPass(sumKernel, storageLimit)).length;
}

/** y = sum_k a[k] ts[k] over n elements (y must not be one of ts). */
export function runWeightedSum(d: Dispatcher, y: GPUBufferBinding, a: GPUBufferBinding, ts: readonly GPUBufferBinding[], n: number, storageLimit: number): void {
  if (n === 0) return;
  for (const [k0, count] of passes(ts.length, termsPerPass(sumKernel, storageLimit))) {
    d.run(sumKernel, { buffers: { y, a, ...termBuffers(sumKernel, ts, k0, count) }, params: { n, k0, count }, workgroups: grid1d(n, 256) });
  }
}

/** Elements per workgroup of the dot products: whole threads' worth, and at most MAX_GROUPS workgroups. */
const MIN_PER_GROUP = 256 * 16;
const MAX_GROUPS = 1024;

/** The workgroups of runWeightedSumDot over n elements; with more than one the caller gives a [K, groups] scratch. */
export function dotGroups(n: number): { groups: number; perGroup: number } {
  const perGroup = Math.max(MIN_PER_GROUP, Math.ceil(n / MAX_GROUPS / 256) * 256);
  return { groups: Math.max(1, Math.ceil(n / perGroup)), perGroup };
}

/**
 * out[k] = sum(g * ts[k]) over n > 0 elements, for every k; `scratch` holds K * groups floats when
 * dotGroups(n).groups > 1 (null otherwise: the passes write out directly).
 */
export function runWeightedSumDot(d: Dispatcher, g: GPUBufferBinding, ts: readonly GPUBufferBinding[], out: GPUBufferBinding, scratch: GPUBufferBinding | null, n: number, storageLimit: number): void {
  const { groups, perGroup } = dotGroups(n);
  if (groups > 1 && !scratch) throw new Error(`weighted_sum_dot: ${groups} workgroups need a scratch buffer`);
  const partial = groups > 1 ? scratch! : out;
  for (const [k0, count] of passes(ts.length, termsPerPass(dotKernel, storageLimit))) {
    d.run(dotKernel, { buffers: { g, partial, ...termBuffers(dotKernel, ts, k0, count) }, params: { n, k0, count, groups, per_group: perGroup }, workgroups: grid1d(groups, 1) });
  }
  if (groups > 1) runReduce(d, 'sum', partial, out, ts.length, groups);
}

/** y = a[k] g over n elements (0 where a[k] is 0). */
export function runWeightedSumScale(d: Dispatcher, g: GPUBufferBinding, a: GPUBufferBinding, y: GPUBufferBinding, n: number, k: number): void {
  if (n === 0) return;
  d.run(scaleKernel, { buffers: { g, a, y }, params: { n, k }, workgroups: grid1d(n, 256) });
}
