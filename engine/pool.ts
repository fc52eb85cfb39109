/**
 * GPU buffer pool. Requests are rounded up to size classes (four per power of two, so at most 25% is
 * wasted) and freed buffers wait in a per-class free list, capped so that pooled memory cannot grow
 * without bound (the tfjs #3592 trap). A buffer released while an unsubmitted command encoder may still
 * read it goes to `pending` and only rejoins the free lists after the submit (see Recorder.flush): a
 * recycled buffer must never be overwritten by work that the queue would run before the pending reads.
 */
const MIN_BYTES = 256;
const MAX_FREE_PER_CLASS = 32;

export function sizeClass(bytes: number): number {
  const b = Math.max(MIN_BYTES, bytes);
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  /** Bytes of every buffer this pool created and has not destroyed (live + free + pending). */
  allocatedBytes = 0;
  freeBytes = 0;
  buffersCreated = 0;

  constructor(private readonly device: GPUDevice, private readonly usage: GPUBufferUsageFlags, private readonly label: string) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    const hit = list?.pop();
    if (hit) {
      this.freeBytes -= size;
      return hit;
    }
    this.allocatedBytes += size;
    this.buffersCreated++;
    return this.device.createBuffer({ size, usage: this.usage, label: `${this.label}:${size}` });
  }

  /** `inFlight`: an unsubmitted encoder may still reference the buffer. */
  release(buf: GPUBuffer, inFlight: boolean): void {
    if (inFlight) this.pending.push(buf);
    else this.toFree(buf);
  }

  /** Called after a submit: pending buffers are now safe to reuse (the queue orders later work after it). */
  recyclePending(): void {
    const p = this.pending;
    this.pending = [];
    for (const b of p) this.toFree(b);
  }

  private toFree(buf: GPUBuffer): void {
    const size = buf.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    if (list.length >= MAX_FREE_PER_CLASS) {
      buf.destroy();
      this.allocatedBytes -= size;
      return;
    }
    list.push(buf);
    this.freeBytes += size;
  }

  /** Destroys every free buffer (e.g. between epochs or when a workload changes shape). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) { b.destroy(); this.allocatedBytes -= b.size; }
    this.free.clear();
    this.freeBytes = 0;
  }

  get pendingCount(): number {
    return this.pending.length;
  }
}
