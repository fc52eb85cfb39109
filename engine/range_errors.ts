/**
 * The host side of lib/range_check.wgsl: the device's range-error words, which kernels checking labels or
 * indices write when one is out of range (a kernel cannot throw). Device.readBuffer copies the words with the
 * data it reads (one 32-byte copy into the same staging buffer, no extra submit, and only when a checking
 * kernel ran since the last read) and throws what they describe; the words are then reset.
 */
import type { Kernel } from '../kernels/kernel.js';

export class RangeCheckError extends RangeError {}

export const RANGE_ERROR_BYTES = 32;
const NONE = 0xffffffff;
/** Layout in lib/range_check.wgsl: owner, count, first index, claimed index, value, bound, kind, unused. */
const RESET = new Uint32Array([0, 0, NONE, NONE, 0, 0, 0, 0]);
/** Per kind code of lib/range_check.wgsl: what the value is, and what its position is called. */
const KINDS: Record<number, [string, string]> = { 1: ['label', 'index'], 2: ['index', 'element'] };

/** Per kernel id: its name and the ops that recorded it since the words were last copied (for the message). */
export type RangeSites = Map<number, { kernel: string; ops: Set<string> }>;

export class RangeErrors {
  readonly buffer: GPUBuffer;
  private sites: RangeSites = new Map();

  constructor(private readonly gpu: GPUDevice) {
    this.buffer = gpu.createBuffer({
      size: RANGE_ERROR_BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true, label: 'range-errors',
    });
    new Uint32Array(this.buffer.getMappedRange()).set(RESET);
    this.buffer.unmap();
  }

  /** A checking kernel was recorded since the words were last copied for a read. */
  get pending(): boolean {
    return this.sites.size > 0;
  }

  /** Called for every dispatch of a checking kernel; `op` is the op recording it. */
  note(kernel: Kernel, op: string | null): void {
    let site = this.sites.get(kernel.id);
    if (!site) this.sites.set(kernel.id, (site = { kernel: kernel.name, ops: new Set() }));
    if (op) site.ops.add(op.replace(/ \(backward\)$/, ''));
  }

  /** Called when the words are copied for a read: what was recorded until then, and pending is false. */
  collect(): RangeSites {
    const s = this.sites;
    this.sites = new Map();
    return s;
  }

  /** Puts back what collect() took, when the copy did not run (its submission failed). */
  restore(sites: RangeSites): void {
    for (const [id, site] of sites) {
      const mine = this.sites.get(id);
      if (mine) for (const op of site.ops) mine.ops.add(op);
      else this.sites.set(id, site);
    }
  }

  /**
   * The error that words copied from the buffer describe, or null; `sites` is what collect() returned at the
   * copy. Resets the buffer when there is one (a queue write, ordered after the submit whose words these are
   * and before any later one).
   */
  take(words: Uint32Array, sites: RangeSites): RangeCheckError | null {
    const owner = words[0]!;
    if (owner === 0) return null;
    this.gpu.queue.writeBuffer(this.buffer, 0, RESET);
    const [count, first, claim, value, hi] = [words[1]!, words[2]!, words[3]!, words[4]! | 0, words[5]!];
    const [kind, at] = KINDS[words[6]!] ?? ['index', 'element'];
    const site = sites.get(owner - 1);
    const ops = [...(site?.ops ?? [])];
    const who = ops.length === 0 ? site?.kernel ?? `kernel #${owner - 1}` : `${ops.join('/')}${site && !ops.includes(site.kernel) ? ` (kernel ${site.kernel})` : ''}`;
    const msg = claim === first
      ? `${kind} ${value} at ${at} ${first} is out of range [0, ${hi})${count > 1 ? `; ${count} ${kind === 'index' ? 'indices' : `${kind}s`} were out of range` : ''}`
      : `${count} ${kind === 'index' ? 'indices' : `${kind}s`} out of range [0, ${hi}), the first at ${at} ${first} (${kind} ${value} at ${at} ${claim})`;
    return new RangeCheckError(`${who}: ${msg}`);
  }
}
