/**
 * Records a whole step's dispatches into one command encoder and one open compute pass, and submits only
 * at step end, on readback, or at a safety cap. Per-dispatch uniforms are packed into a CPU-side arena at
 * 256-byte aligned slots and uploaded with a single writeBuffer right before the submit; the same arena
 * buffer is reused across submits because the queue runs each writeBuffer after the previous submit.
 *
 * A submission WebGPU rejects (a validation error, out of memory) runs none of its commands, so whatever
 * it would have written keeps stale data. Each submit is wrapped in error scopes (three per submit, none per
 * dispatch); the recorder remembers, per submission, the kernels and ops it holds and what it writes, and
 * when a submission fails it marks every target written by it, or by any submission recorded before the
 * failure was known (their inputs may be stale), invalid with a message naming the failed kernel and op.
 */
import type { BufferPool } from './pool.js';
import { collectGarbage } from './gc.js';
import type { Kernel, ParamValues } from '../kernels/kernel.js';

const SLOT = 256;
/** Bind groups made between forced collections (engine/gc.ts; each costs a few ms). */
const BIND_GROUPS_PER_GC = 8192;
/** Bind groups kept for reuse; past this the cache starts over (a workload that never repeats). */
const MAX_CACHED_GROUPS = 16384;
const ARENA_BYTES = 1 << 18;

export interface DispatchStats { dispatches: number; submissions: number }

/**
 * What a dispatch or copy writes (a tensor's Storage): marked invalid when its submission fails. `writtenIn`
 * is the recorder's: the last submission that lists it (a cheap way to list each target once).
 */
export interface WriteTarget { invalid: string | null; writtenIn: number }

/** A rejected submission: its message names the submission's kernels and, when WebGPU's does, the failed one. */
export class SubmissionError extends Error {}

/** One submission's contents, kept until WebGPU's verdict on it (and every earlier one) is in. */
interface Submission {
  index: number;
  /** Kernel name and recording op of every dispatch, in order. */
  kernels: string[];
  ops: (string | null)[];
  written: WriteTarget[];
  settled: boolean;
}

const newSubmission = (index: number): Submission => ({ index, kernels: [], ops: [], written: [], settled: false });

/** 'a x3, b, c' for the distinct names in order, at most `max` of them. */
function summarize(names: readonly string[], max = 12): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  const parts = [...counts].slice(0, max).map(([n, c]) => (c > 1 ? `${n} x${c}` : n));
  return parts.join(', ') + (counts.size > max ? `, ... (${counts.size - max} more)` : '');
}

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
  bindGroupsCreated = 0;
  private bindGroupsSinceGc = 0;
  private readonly groups = new Map<string, GPUBindGroup>();
  private groupsOf = new WeakMap<GPUBuffer, string[]>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  /** Called after every submit (the buffer pools recycle their pending buffers there). */
  readonly afterSubmit: (() => void)[] = [];
  /** The submission being recorded, and those submitted whose verdict (or an earlier one's) is not in yet. */
  private current = newSubmission(0);
  private last: Submission | null = null;
  private unsettled: Submission[] = [];
  private verdicts: Promise<void>[] = [];
  private failures: SubmissionError[] = [];

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

  /** `written`: what the dispatch writes (its read_write bindings' storages); `op`: the op recording it. */
  dispatch(kernel: Kernel, pipeline: GPUComputePipeline, layout: GPUBindGroupLayout, storage: Map<string, GPUBufferBinding>,
    params: ParamValues | null, workgroups: readonly [number, number, number], written: readonly WriteTarget[] = [], op: string | null = null): void {
    const slotBytes = Math.ceil(Math.max(kernel.paramsSize, 1) / SLOT) * SLOT;
    // A pass per dispatch, or a pass split by every copy, uses a timestamp pair each: the profiler's capacity caps the submit.
    if (this.inBatch >= (this.profiler?.capacity ?? this.maxDispatchesPerSubmit) || (this.profiler && this.profiler.names.length >= this.profiler.capacity) || (kernel.paramsSize > 0 && this.used + slotBytes > ARENA_BYTES)) this.flush();
    const entries: GPUBindGroupEntry[] = [];
    const dynamicOffsets: number[] = [];
    const buffers: GPUBuffer[] = [];
    let key = `${this.idOf(layout)}`;
    for (const b of kernel.bindings) {
      if (b.kind === 'uniform') {
        kernel.packParams(params ?? {}, this.view, this.used);
        entries.push({ binding: b.binding, resource: { buffer: this.arenaBuffer, offset: 0, size: kernel.paramsSize } });
        dynamicOffsets.push(this.used);
        this.used += slotBytes;
      } else {
        const res = storage.get(b.name);
        if (!res) throw new Error(`kernel '${kernel.name}': no buffer bound to '${b.name}'`);
        entries.push({ binding: b.binding, resource: res });
        buffers.push(res.buffer);
        key += `|${this.idOf(res.buffer)}:${res.offset ?? 0}:${res.size ?? -1}`;
      }
    }
    const group = this.bindGroup(key, layout, entries, buffers, kernel.name);
    const perDispatch = this.profiler?.mode === 'dispatch';
    if (perDispatch) {
      this.endPass();
      this.pass = this.encoder!.beginComputePass({ timestampWrites: this.profiler!.writes(kernel.name) });
    }
    const pass = this.ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group, dynamicOffsets);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    if (perDispatch) this.endPass();
    this.inBatch++;
    this.dispatches++;
    const sub = this.current;
    sub.kernels.push(kernel.name);
    sub.ops.push(op);
    for (const w of written) this.noteWrite(sub, w);
  }

  /**
   * The bind group of `key` (the layout and the storage bindings; uniforms move by dynamic offset), made once
   * and reused: a loop dispatches the same kernels on the same pooled buffers step after step. Creating one per
   * dispatch cost most of the recording time, and Dawn frees a bind group's descriptor set only when its JS
   * wrapper is collected, which a loop without an await never lets happen (lavapipe crashed after ~60k).
   */
  private bindGroup(key: string, layout: GPUBindGroupLayout, entries: GPUBindGroupEntry[], buffers: GPUBuffer[], label: string): GPUBindGroup {
    const hit = this.groups.get(key);
    if (hit) return hit;
    if (this.groups.size >= MAX_CACHED_GROUPS) this.clearGroups();
    const group = this.device.createBindGroup({ layout, entries, label });
    this.bindGroupsCreated++;
    this.groups.set(key, group);
    for (const b of buffers) {
      let keys = this.groupsOf.get(b);
      if (!keys) this.groupsOf.set(b, (keys = []));
      keys.push(key);
    }
    if (++this.bindGroupsSinceGc >= BIND_GROUPS_PER_GC) {
      this.bindGroupsSinceGc = 0;
      collectGarbage();
    }
    return group;
  }

  /** A buffer is being destroyed: the bind groups that name it go (a destroyed buffer makes them invalid). */
  forgetBuffer(buf: GPUBuffer): void {
    const keys = this.groupsOf.get(buf);
    if (!keys) return;
    for (const k of keys) this.groups.delete(k);
    this.groupsOf.delete(buf);
  }

  private clearGroups(): void {
    this.groups.clear();
    this.groupsOf = new WeakMap();
  }

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  /** Ends the open compute pass, opening the encoder if there is none. */
  private endPass(): void {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'step' });
    this.pass?.end();
    this.pass = null;
  }

  /** `written`: dst's storage, when dst holds a tensor. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number, written: WriteTarget | null = null): void {
    this.endPass();
    this.encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    if (written) this.noteWrite(this.current, written);
  }

  private noteWrite(sub: Submission, w: WriteTarget): void {
    if (w.writtenIn === sub.index) return;
    w.writtenIn = sub.index;
    sub.written.push(w);
  }

  get profiling(): boolean {
    return this.profiler !== null;
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
    // Encoding errors surface at finish(), and the scopes see them there; errors of createBindGroup (at
    // record time) are uncaptured and reach the device's handler, but they also invalidate the encoder.
    const gpu = this.device;
    gpu.pushErrorScope('internal');
    gpu.pushErrorScope('out-of-memory');
    gpu.pushErrorScope('validation');
    if (this.used > 0) gpu.queue.writeBuffer(this.arenaBuffer, 0, this.arena, 0, this.used);
    gpu.queue.submit([this.encoder.finish()]);
    const scopes = [gpu.popErrorScope(), gpu.popErrorScope(), gpu.popErrorScope()];
    afterProfileSubmit?.();
    this.encoder = null;
    this.used = 0;
    this.inBatch = 0;
    this.submissions++;
    const sub = this.current;
    this.current = newSubmission(sub.index + 1);
    this.last = sub;
    this.unsettled.push(sub);
    // A lost device rejects the pops; the device reports the loss itself.
    this.verdicts.push(Promise.all(scopes).then((errs) => this.verdict(sub, errs.find((e) => e) ?? null), () => this.verdict(sub, null)));
    for (const f of this.afterSubmit) f();
  }

  /**
   * Records WebGPU's verdict on `sub`. A failure marks what `sub` and every later submission (submitted or
   * still recording) write: those were recorded before the failure was known and may have read its stale
   * outputs. Work recorded from now on is checked when it is recorded (Device.run refuses invalid inputs).
   */
  private verdict(sub: Submission, err: GPUError | null): void {
    if (!err) {
      sub.settled = true;
      while (this.unsettled[0]?.settled) this.unsettled.shift();
      return;
    }
    const failed = this.describe(sub, err.message);
    const at = this.unsettled.indexOf(sub);
    const affected = [...(at < 0 ? [] : this.unsettled.splice(at)), this.current];
    for (const s of affected) {
      const why = s === sub ? failed : `it was recorded after ${failed}, whose outputs it may have read`;
      for (const w of s.written) w.invalid = why;
    }
    const written = sub.written.length;
    this.failures.push(new SubmissionError(`WebGPU rejected ${failed}; the ${written} tensor(s) it would have written are now invalid (reading one throws).\n${err.message}`));
  }

  /** 'submission #3 (kernels a, b x2): kernel 'b' (op mul) failed: <WebGPU's first line>'. */
  private describe(sub: Submission, message: string): string {
    const first = message.split('\n', 1)[0]!.trim();
    // WebGPU names objects by label: bind groups by kernel name, pipelines as 'name[variant]'.
    const labels = [...message.matchAll(/\[(?:Invalid )?(?:BindGroup|ComputePipeline|BindGroupDescriptor) "+([^"[\]]+)/g)].map((m) => m[1]!);
    const i = sub.kernels.findIndex((k) => labels.includes(k));
    const which = i >= 0 ? `kernel '${sub.kernels[i]}'${sub.ops[i] ? ` (op ${sub.ops[i]})` : ''}` : `one of its kernels${sub.ops.some((o) => o) ? ` (ops ${summarize(sub.ops.filter((o): o is string => !!o))})` : ''}`;
    return `submission #${sub.index} (${sub.kernels.length} dispatches: ${summarize(sub.kernels) || 'copies only'}): ${which} failed: ${first}`;
  }

  /** The kernels of the submission being recorded, else of the last one submitted (attribution of uncaptured errors). */
  lastKernels(): string {
    const sub = this.current.kernels.length > 0 || !this.last ? this.current : this.last;
    return `submission #${sub.index} (${summarize(sub.kernels) || 'no dispatches'})`;
  }

  /** Waits for WebGPU's verdict on every submit so far; returns (and forgets) the failures among them. */
  async settle(): Promise<SubmissionError[]> {
    while (this.verdicts.length > 0) await Promise.all(this.verdicts.splice(0));
    return this.failures.splice(0);
  }

  destroy(): void {
    this.arenaBuffer.destroy();
  }
}
