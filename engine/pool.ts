/**
 * GPU buffer pool. Requests are rounded up to size classes (four per power of two, so at most 25% is
 * wasted) and freed buffers wait in a per-class free list for the next request of their class.
 *
 * Policy: a free buffer stays pooled until the pool's bytes (in use + parked + free) pass `capBytes` (the
 * device's memory budget); then free buffers are destroyed, those of the least recently used size class
 * first, until the pool is back under the cap or nothing is free. So:
 * - a repeated workload reaches a steady state that creates no buffer at all: a buffer is created only
 *   when its class has none free, so each class holds at most as many buffers as the workload ever had
 *   out of it at once, and all of them are reused every step (a count cap per class would instead destroy
 *   and re-create every buffer above it each step);
 * - pooled memory stays bounded by max(cap, bytes in use + parked) whatever the workload does, so a
 *   workload that keeps changing shape cannot make the pool grow without bound (the tfjs #3592 trap): the
 *   classes it stopped using are evicted first. `trim()` drops every free buffer at once.
 *
 * A buffer released while an unsubmitted command encoder may still read it is parked in `pending` and only
 * rejoins the free lists after the submit (see Recorder.flush): a recycled buffer must never be overwritten
 * by work that the queue would run before the pending reads. Parked bytes cannot be reused or evicted; the
 * device bounds them by submitting early (Device.release).
 */
const MIN_BYTES = 256;

export function sizeClass(bytes: number): number {
  const b = Math.max(MIN_BYTES, bytes);
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /** The tick of each size class's last acquire or release (eviction order). */
  private readonly lastUse = new Map<number, number>();
  private tick = 0;
  private pending: GPUBuffer[] = [];
  /** Bytes of every buffer this pool created and has not destroyed (in use + free + parked). */
  allocatedBytes = 0;
  freeBytes = 0;
  /** Bytes released while recording, waiting for the submit. */
  pendingBytes = 0;
  /** Highest allocatedBytes since creation or the last resetPeak(). */
  peakBytes = 0;
  /** Highest bytes handed out and not released (neither free nor parked) since then: what a caching allocator calls allocated. */
  peakInUseBytes = 0;
  buffersCreated = 0;
  buffersDestroyed = 0;

  /** `capBytes`: free buffers are destroyed while the pool holds more than this (Infinity: never). */
  /** Called for every buffer this pool destroys (the recorder forgets the bind groups that name it). */
  onDestroy: ((buf: GPUBuffer) => void) | null = null;

  constructor(private readonly device: GPUDevice, private readonly usage: GPUBufferUsageFlags, private readonly label: string, readonly capBytes = Infinity) {
    if (!(capBytes > 0)) throw new RangeError(`BufferPool '${label}': capBytes must be > 0, got ${capBytes}`);
  }

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    this.lastUse.set(size, ++this.tick);
    let buf = this.free.get(size)?.pop();
    if (buf) {
      this.freeBytes -= size;
    } else {
      this.evict(size);
      buf = this.device.createBuffer({ size, usage: this.usage, label: `${this.label}:${size}` });
      this.allocatedBytes += size;
      this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
      this.buffersCreated++;
    }
    this.peakInUseBytes = Math.max(this.peakInUseBytes, this.allocatedBytes - this.freeBytes - this.pendingBytes);
    return buf;
  }

  /** `inFlight`: an unsubmitted encoder may still reference the buffer. */
  release(buf: GPUBuffer, inFlight: boolean): void {
    if (inFlight) {
      this.pending.push(buf);
      this.pendingBytes += buf.size;
    } else {
      this.toFree(buf);
    }
  }

  /** Called after a submit: pending buffers are now safe to reuse (the queue orders later work after it). */
  recyclePending(): void {
    const p = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const b of p) this.toFree(b);
  }

  private toFree(buf: GPUBuffer): void {
    const size = buf.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.freeBytes += size;
    this.lastUse.set(size, ++this.tick);
    this.evict(0);
  }

  /** Destroys free buffers, least recently used class first, until `extra` more bytes fit under the cap or none is free. */
  private evict(extra: number): void {
    while (this.allocatedBytes + extra > this.capBytes && this.freeBytes > 0) {
      let oldest = 0;
      let at = Infinity;
      for (const [size, list] of this.free) {
        const t = this.lastUse.get(size)!;
        if (list.length > 0 && t < at) { at = t; oldest = size; }
      }
      const list = this.free.get(oldest)!;
      this.destroy(list.pop()!);
      this.freeBytes -= oldest;
      if (list.length === 0) this.free.delete(oldest);
    }
  }

  private destroy(buf: GPUBuffer): void {
    this.allocatedBytes -= buf.size;
    this.buffersDestroyed++;
    this.onDestroy?.(buf);
    buf.destroy();
  }

  /** Destroys every free buffer (e.g. between epochs or when a workload changes shape). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) this.destroy(b);
    this.free.clear();
    this.freeBytes = 0;
  }

  /** Starts new peak measurements from the bytes held (and in use) now. */
  resetPeak(): void {
    this.peakBytes = this.allocatedBytes;
    this.peakInUseBytes = this.allocatedBytes - this.freeBytes - this.pendingBytes;
  }

  get pendingCount(): number {
    return this.pending.length;
  }
}
