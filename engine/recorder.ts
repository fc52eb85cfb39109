/**
 * Records a whole step's dispatches into one command encoder and one open compute pass, and submits only
 * at step end, on readback, or at a safety cap. Per-dispatch uniforms are packed into a CPU-side arena at
 * 256-byte aligned slots and uploaded with a single writeBuffer right before the submit; the same arena
 * buffer is reused across submits because the queue runs each writeBuffer after the previous submit.
 */
import type { BufferPool } from './pool.js';
import type { Kernel, ParamValues } from '../kernels/kernel.js';

const SLOT = 256;
const ARENA_BYTES = 1 << 18;

export interface DispatchStats { dispatches: number; submissions: number }

/**
 * GPU time of one timed span: a dispatch ('dispatch' profiling), or a compute pass ('pass' profiling, kernel
 * 'pass'), from the timestamps written at the boundaries of its compute pass. `startMs` is on the GPU's clock
 * (only differences mean something); `submission` counts the submits since profiling started.
 */
export interface KernelTime { kernel: string; ms: number; startMs: number; submission: number }

/**
 * What is timed: 'dispatch' gives every dispatch a compute pass of its own (each pass end is a barrier, so this
 * costs a little: for attribution, not headline times); 'pass' times the compute passes the recorder opens
 * anyway (one per submit unless buffer copies split it), which costs nothing measurable.
 */
export type ProfileMode = 'dispatch' | 'pass';

/** Sum over submissions of the time from the first span's start to the last span's end: a step's GPU time. */
export function gpuSpanMs(times: readonly KernelTime[]): number {
  const bySubmit = new Map<number, [number, number]>();
  for (const t of times) {
    const s = bySubmit.get(t.submission);
    if (!s) bySubmit.set(t.submission, [t.startMs, t.startMs + t.ms]);
    else { s[0] = Math.min(s[0], t.startMs); s[1] = Math.max(s[1], t.startMs + t.ms); }
  }
  let total = 0;
  for (const [a, b] of bySubmit.values()) total += b - a;
  return total;
}

/**
 * While profiling, the timed compute passes write timestamps at their beginning and end; at each submit the
 * pairs are resolved and copied to a mappable buffer.
 */
class Profiler {
  readonly querySet: GPUQuerySet;
  names: string[] = [];
  readonly pending: Promise<KernelTime[]>[] = [];
  private submits = 0;

  constructor(private readonly device: GPUDevice, readonly capacity: number, readonly mode: ProfileMode) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * capacity, label: 'profile' });
  }

  /** Timestamp writes for the next timed pass, named `name`. */
  writes(name: string): GPUComputePassTimestampWrites {
    const i = this.names.length;
    this.names.push(name);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Resolves this submit's timestamps into `encoder`; call right before finishing it. */
  resolve(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.names.length;
    if (n === 0) return null;
    const bytes = 16 * n;
    const resolved = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const readback = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
    const names = this.names;
    this.names = [];
    const submission = this.submits++;
    return () => {
      this.pending.push(readback.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(readback.getMappedRange());
        const out = names.map((kernel, i) => ({ kernel, ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6, startMs: Number(t[2 * i]!) / 1e6, submission }));
        readback.destroy();
        resolved.destroy();
        return out;
      }));
    };
  }

  destroy(): void {
    this.querySet.destroy();
  }
}

export class Recorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly arena = new ArrayBuffer(ARENA_BYTES);
  private readonly view = new DataView(this.arena);
  private readonly arenaBuffer: GPUBuffer;
  private used = 0;
  private inBatch = 0;
  private profiler: Profiler | null = null;
  dispatches = 0;
  submissions = 0;
  /** Called after every submit (the buffer pools recycle their pending buffers there). */
  readonly afterSubmit: (() => void)[] = [];

  constructor(private readonly device: GPUDevice, readonly maxDispatchesPerSubmit: number) {
    this.arenaBuffer = device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform-arena' });
  }

  /** True while recorded work has not been submitted: buffers it references must not be recycled yet. */
  get open(): boolean {
    return this.encoder !== null;
  }

  private ensurePass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'step' });
    if (!this.pass) this.pass = this.encoder.beginComputePass(this.profiler ? { timestampWrites: this.profiler.writes('pass') } : {});
    return this.pass;
  }

  dispatch(kernel: Kernel, pipeline: GPUComputePipeline, layout: GPUBindGroupLayout, storage: Map<string, GPUBufferBinding>,
    params: ParamValues | null, workgroups: readonly [number, number, number]): void {
    const slotBytes = Math.ceil(Math.max(kernel.paramsSize, 1) / SLOT) * SLOT;
    // A pass per dispatch, or a pass split by every copy, uses a timestamp pair each: the profiler's capacity caps the submit.
    if (this.inBatch >= (this.profiler?.capacity ?? this.maxDispatchesPerSubmit) || (this.profiler && this.profiler.names.length >= this.profiler.capacity) || (kernel.paramsSize > 0 && this.used + slotBytes > ARENA_BYTES)) this.flush();
    const entries: GPUBindGroupEntry[] = [];
    for (const b of kernel.bindings) {
      if (b.kind === 'uniform') {
        kernel.packParams(params ?? {}, this.view, this.used);
        entries.push({ binding: b.binding, resource: { buffer: this.arenaBuffer, offset: this.used, size: kernel.paramsSize } });
        this.used += slotBytes;
      } else {
        const res = storage.get(b.name);
        if (!res) throw new Error(`kernel '${kernel.name}': no buffer bound to '${b.name}'`);
        entries.push({ binding: b.binding, resource: res });
      }
    }
    const group = this.device.createBindGroup({ layout, entries, label: kernel.name });
    const perDispatch = this.profiler?.mode === 'dispatch';
    if (perDispatch) {
      this.endPass();
      this.pass = this.encoder!.beginComputePass({ timestampWrites: this.profiler!.writes(kernel.name) });
    }
    const pass = this.ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    if (perDispatch) this.endPass();
    this.inBatch++;
    this.dispatches++;
  }

  /** Ends the open compute pass, opening the encoder if there is none. */
  private endPass(): void {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'step' });
    this.pass?.end();
    this.pass = null;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Starts timing dispatches or passes with GPU timestamps (the device must have 'timestamp-query'). */
  startProfile(mode: ProfileMode = 'dispatch'): void {
    if (this.profiler) throw new Error('profiling already started');
    this.flush();
    this.profiler = new Profiler(this.device, Math.min(this.maxDispatchesPerSubmit, 2048), mode);
  }

  /** Submits what is recorded and returns the GPU time of every timed span since startProfile, in order. */
  async stopProfile(): Promise<KernelTime[]> {
    const prof = this.profiler;
    if (!prof) throw new Error('profiling was not started');
    this.flush();
    this.profiler = null;
    try {
      return (await Promise.all(prof.pending)).flat();
    } finally {
      prof.destroy();
    }
  }

  flush(): void {
    if (!this.encoder) return;
    this.pass?.end();
    this.pass = null;
    const afterProfileSubmit = this.profiler?.resolve(this.encoder);
    if (this.used > 0) this.device.queue.writeBuffer(this.arenaBuffer, 0, this.arena, 0, this.used);
    this.device.queue.submit([this.encoder.finish()]);
    afterProfileSubmit?.();
    this.encoder = null;
    this.used = 0;
    this.inBatch = 0;
    this.submissions++;
    for (const f of this.afterSubmit) f();
  }

  destroy(): void {
    this.arenaBuffer.destroy();
  }
}
