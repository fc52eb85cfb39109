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

export class Recorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly arena = new ArrayBuffer(ARENA_BYTES);
  private readonly view = new DataView(this.arena);
  private readonly arenaBuffer: GPUBuffer;
  private used = 0;
  private inBatch = 0;
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
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  dispatch(kernel: Kernel, pipeline: GPUComputePipeline, layout: GPUBindGroupLayout, storage: Map<string, GPUBufferBinding>,
    params: ParamValues | null, workgroups: readonly [number, number, number]): void {
    const slotBytes = Math.ceil(Math.max(kernel.paramsSize, 1) / SLOT) * SLOT;
    if (this.inBatch >= this.maxDispatchesPerSubmit || (kernel.paramsSize > 0 && this.used + slotBytes > ARENA_BYTES)) this.flush();
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
    const pass = this.ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.inBatch++;
    this.dispatches++;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.ensurePass();
    this.pass!.end();
    this.pass = null;
    this.encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  flush(): void {
    if (!this.encoder) return;
    this.pass?.end();
    this.pass = null;
    if (this.used > 0) this.device.queue.writeBuffer(this.arenaBuffer, 0, this.arena, 0, this.used);
    this.device.queue.submit([this.encoder.finish()]);
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
