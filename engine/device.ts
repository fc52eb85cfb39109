/**
 * The WebGPU device: adapter selection through Dawn, the limits and features the engine asks for, the
 * buffer pools, the command recorder, the pipeline cache, and error reporting that names the kernel.
 *
 * One GPU error must not corrupt other work. Sizes are checked against the device's limits where work is
 * created (a tensor, a dispatch), naming the op, the shape and the limit. A submission WebGPU rejects anyway
 * leaves what it would have written invalid (see Recorder): reading such a tensor throws naming the failed
 * kernel, and so does recording a dispatch or copy that reads one; writing it whole (a copy) makes it valid.
 */
import { create, globals } from 'webgpu';
import { BufferPool, sizeClass } from './pool.js';
import { estimateMemoryBudget, explicitMemoryBudget, parkedLimit } from './memory_budget.js';
import { setPollInterval } from './poll.js';
import { Recorder, type KernelTime, type ProfileMode } from './recorder.js';
import { RangeErrors, RANGE_ERROR_BYTES } from './range_errors.js';
import { currentOp } from './op_context.js';
import type { Storage } from './tensor.js';
import { fmt, type Shape } from './shape.js';
import type { DType } from './dtype.js';
import { ownerOf } from './buffer_owner.js';
import { Kernel, KernelCompileError, loadedKernels, RANGE_ERRORS, type OverrideValues, type ParamValues } from '../kernels/kernel.js';
import { Tuner } from './tune.js';

export interface DeviceOptions {
  /** Dawn backend: 'vulkan', 'metal', 'd3d12', 'opengl', ... (env ROBUSTGPU_BACKEND). 'null' is refused. */
  backend?: string;
  /** Substring of the adapter name to pick (env ROBUSTGPU_ADAPTER). */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /** Safety cap on dispatches recorded before a submit is forced (default 512). */
  maxDispatchesPerSubmit?: number;
  /**
   * Milliseconds between the main thread's polls for GPU completion (env ROBUSTGPU_POLL_MS; engine/poll.ts).
   * Default: 1 on a software adapter, whose GPU work runs on the same CPU cores the polling would take;
   * 0 (poll as fast as the event loop turns, lowest latency) on a hardware GPU. Process-wide.
   */
  pollIntervalMs?: number;
  /**
   * GPU memory the engine aims to hold, in bytes (env ROBUSTGPU_MEMORY_BUDGET, e.g. '80G'). Free pooled
   * buffers are destroyed above it, and buffers released while recording force a submit when they pass a
   * quarter of it (at most 1 GiB). Default: an estimate (engine/memory_budget.ts: half the RAM on a
   * software adapter, at least 8 GiB on a GPU).
   */
  memoryBudgetBytes?: number;
  /**
   * Dawn's speed toggles for trusted workloads: skip_validation, disable_robustness, disable_workgroup_init
   * (env ROBUSTGPU_FAST=1). WebGPU then no longer checks commands (a bad one is undefined behaviour, not an
   * error naming the kernel), nor clamps buffer accesses, nor zeroes workgroup memory. Off by default.
   */
  fast?: boolean;
  /**
   * Allocate and record as usual but dispatch nothing, as PyTorch's meta tensors: what a step needs from the
   * allocator (stats(), pool.peakInUseBytes) without running it, for steps too large to run on this machine
   * (bench/memory_peak_main.ts --record-only). Every value read back is meaningless (zeros).
   */
  recordOnly?: boolean;
  /** Tune the GEMM-shaped kernels' shape classes met without a cached entry, at the next sync (engine/tune.ts; env ROBUSTGPU_AUTOTUNE=1). */
  autotune?: boolean;
  /** The tune cache file (env ROBUSTGPU_TUNE_CACHE; default in the user's cache directory); 'off': in memory only. */
  tuneCache?: string;
}

/** The Dawn toggles `fast` enables. */
export const FAST_TOGGLES = ['skip_validation', 'disable_robustness', 'disable_workgroup_init'] as const;

export class DeviceLostError extends Error {}
export class NoAdapterError extends Error {}
/** Work refused before it is recorded because it exceeds one of the device's limits. */
export class DeviceLimitError extends RangeError {}
/** A tensor whose data a failed submission should have written (its message says which). */
export class InvalidTensorError extends Error {}

/** 'op: kernel 'name'' for messages about a dispatch. */
const who = (kernel: Kernel, op: string | null): string => `${op ? `${op}: ` : ''}kernel '${kernel.name}'`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 1)} MiB`;

const INSTALL_HINT =
  'Install a Vulkan driver: on Debian/Ubuntu as root, `apt-get install libvulkan1 mesa-vulkan-drivers` ' +
  '(Mesa >= 24; on Debian 12 add `-t bookworm-backports`), or run `npm run setup`, which does it.';

/** Limits raised to what the adapter offers, because the spec defaults are lower than the kernels need. */
const WANTED_LIMITS = [
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

const PLATFORM_BACKEND: Record<string, string> = { linux: 'vulkan', darwin: 'metal', win32: 'd3d12' };

/** Bind groups created between two waits for the GPU past which breathe() waits (engine/recorder.ts caches 16384). */
const BREATHE_GROUPS = 4096;

export interface DeviceInfo {
  vendor: string; architecture: string; description: string; device: string; backend: string;
  /** A software (CPU) adapter such as lavapipe. */
  fallback: boolean; subgroupSizes: [number, number];
  features: string[]; limits: Record<string, number>;
  /** Dawn toggles enabled on the instance (DeviceOptions.fast). */
  toggles: string[];
}

export interface DeviceStats {
  liveTensors: number; liveBytes: number; pooledBytes: number; freeBytes: number;
  buffersCreated: number; dispatches: number; submissions: number;
  /** Highest pooledBytes (in use + parked + free) since creation or resetPeakBytes(): the engine's GPU memory at its worst. */
  peakBytes: number;
  /** Bytes released while recording, waiting for the next submit to become reusable. */
  parkedBytes: number;
  /** Submits forced because parked bytes passed their limit (a quarter of the memory budget, at most 1 GiB). */
  flushesForMemory: number;
  memoryBudgetBytes: number;
  /** Bind groups created (the recorder reuses one per kernel layout and set of storage bindings). */
  bindGroupsCreated: number;
}

interface CompiledVariant { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }

export class Device {
  readonly pool: BufferPool;
  private readonly staging: BufferPool;
  readonly recorder: Recorder;
  private readonly pipelines = new Map<Kernel, Map<string, CompiledVariant>>();
  private readonly layouts = new Map<Kernel, GPUBindGroupLayout>();
  private readonly pendingChecks: Promise<void>[] = [];
  private lost: string | null = null;
  private gpuErrors: string[] = [];
  private readonly rangeErrors: RangeErrors;
  /** The limits the size checks use (also in info.limits). */
  private readonly maxBinding: number;
  private readonly maxBuffer: number;
  private readonly maxGroups: number;
  /** The dispatch being recorded, and its op (WebGPU reports a bind group it refuses while it is being created). */
  private recordingKernel: Kernel | null = null;
  private recordingOp: string | null = null;
  /** Scratch list of what the dispatch being checked writes (the recorder copies it). */
  private readonly written: Storage[] = [];
  liveTensors = 0;
  liveBytes = 0;
  /** See DeviceOptions.memoryBudgetBytes. */
  readonly memoryBudgetBytes: number;
  private readonly parkedLimit: number;
  private flushesForMemory = 0;
  /**
   * Register-blocked kernels (matmul, conv2d) keep at most this many outputs per thread. On a GPU, 128: the
   * 16x16 and 12x16 blocks measured best on lavapipe would need more registers than a GPU thread has (a prior,
   * not yet measured on one: bench/gpu_run.sh). Unlimited on a software adapter.
   */
  readonly maxOutputsPerThread: number;
  /** Tuned kernel choices of this adapter, and autotuning (engine/tune.ts); what the kernel wrappers ask. */
  readonly chooser: Tuner;

  /** recorder.bindGroupsCreated when the GPU was last seen idle by a sync or a read (see breathe()). */
  private groupsAtQuiet = 0;

  /**
   * Waits for the GPU (a sync) when more than `BREATHE_GROUPS` bind groups were created since it was last
   * waited for, and does nothing otherwise: for loops that record step after step and read rarely. Dawn
   * frees what finished work held (bind groups' descriptor sets, command buffers) only while the event loop
   * turns; a W-TRADES fine-tune reading every 50 steps made lavapipe fail to allocate a descriptor pool and
   * crash at step ~200 (DescriptorSetAllocator::AllocateDescriptorPool), and ran with a read every 10.
   */
  async breathe(): Promise<void> {
    if (this.recorder.bindGroupsCreated - this.groupsAtQuiet > BREATHE_GROUPS) await this.sync();
  }

  /** DeviceOptions.recordOnly: dispatches are checked and counted (recordOnlyDispatches), not recorded. */
  readonly recordOnly: boolean;
  private recordOnlyDispatches = 0;

  private constructor(readonly gpu: GPUDevice, readonly info: DeviceInfo, opts: DeviceOptions, private navigatorGpu: GPU | null) {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.memoryBudgetBytes = opts.memoryBudgetBytes ?? estimateMemoryBudget(info.fallback, info.limits.maxBufferSize ?? 0);
    this.parkedLimit = parkedLimit(this.memoryBudgetBytes);
    this.pool = new BufferPool(gpu, usage, 'tensor', this.memoryBudgetBytes);
    // Readback buffers are few and short-lived (one out at a time): an eighth of the budget keeps repeated reads pooled.
    this.staging = new BufferPool(gpu, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback', this.memoryBudgetBytes / 8);
    this.pool.onDestroy = (b) => this.recorder.forgetBuffer(b);
    this.staging.onDestroy = (b) => this.recorder.forgetBuffer(b);
    this.recorder = new Recorder(gpu, opts.maxDispatchesPerSubmit ?? 512);
    this.recordOnly = opts.recordOnly ?? false;
    this.recorder.afterSubmit.push(() => this.pool.recyclePending());
    this.maxOutputsPerThread = info.fallback ? Infinity : 128;
    this.chooser = new Tuner(info, { autotune: opts.autotune, cachePath: opts.tuneCache });
    this.rangeErrors = new RangeErrors(gpu);
    this.maxBinding = info.limits.maxStorageBufferBindingSize!;
    this.maxBuffer = info.limits.maxBufferSize!;
    this.maxGroups = info.limits.maxComputeWorkgroupsPerDimension!;
    gpu.lost.then((l) => { this.lost ??= `${l.reason}: ${l.message}`; });
    // Errors outside the submit's error scopes (createBindGroup at record time, queue writes): WebGPU names the
    // object by label (the kernel); the submission says which op recorded it.
    gpu.onuncapturederror = (ev) => {
      const k = this.recordingKernel;
      const where = k ? `kernel '${k.name}'${this.recordingOp ? ` (op ${this.recordingOp})` : ''}` : this.recorder.lastKernels();
      this.gpuErrors.push(`(uncaptured, while recording ${where}) ${(ev as GPUUncapturedErrorEvent).error.message}`);
    };
  }

  static async create(opts: DeviceOptions = {}): Promise<Device> {
    Object.assign(globalThis, globals);
    const backend = opts.backend ?? process.env.ROBUSTGPU_BACKEND;
    const adapterName = opts.adapter ?? process.env.ROBUSTGPU_ADAPTER;
    const envPoll = process.env.ROBUSTGPU_POLL_MS;
    const poll = opts.pollIntervalMs ?? (envPoll !== undefined && envPoll !== '' ? Number(envPoll) : undefined);
    if (poll !== undefined && (!Number.isFinite(poll) || poll < 0)) {
      throw new RangeError(`pollIntervalMs (or ROBUSTGPU_POLL_MS) must be a number of milliseconds >= 0, got '${opts.pollIntervalMs ?? envPoll}'`);
    }
    const memoryBudgetBytes = explicitMemoryBudget(opts.memoryBudgetBytes);
    if (backend === 'null') throw new NoAdapterError("backend 'null' computes nothing and is refused. " + INSTALL_HINT);
    const flags: string[] = [];
    if (backend) flags.push(`backend=${backend}`);
    if (adapterName) flags.push(`adapter=${adapterName}`);
    const fast = opts.fast ?? process.env.ROBUSTGPU_FAST === '1';
    // Dawn's Node bindings take instance toggles in create()'s list; toggles in requestDevice's descriptor are
    // ignored (checked: a validation error still surfaced). The instance's toggles reach its devices.
    if (fast) flags.push(`enable-dawn-features=${FAST_TOGGLES.join(',')}`);
    let navigatorGpu: GPU;
    let adapter: GPUAdapter | null;
    try {
      navigatorGpu = create(flags);
      adapter = await navigatorGpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    } catch (e) {
      throw new NoAdapterError(`no WebGPU adapter${backend ? ` for backend '${backend}'` : ''}${adapterName ? ` named '${adapterName}'` : ''}: ${(e as Error).message}. ${INSTALL_HINT}`);
    }
    if (!adapter) throw new NoAdapterError(`no WebGPU adapter found${backend ? ` for backend '${backend}'` : ''}. ${INSTALL_HINT}`);
    const ai = adapter.info as GPUAdapterInfo & { backendType?: string; isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number };
    const requiredLimits: Record<string, number> = {};
    for (const k of WANTED_LIMITS) requiredLimits[k] = adapter.limits[k] as number;
    const requiredFeatures = WANTED_FEATURES.filter((f) => adapter!.features.has(f));
    const gpu = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'robustgpu' });
    const limits: Record<string, number> = {};
    for (const k of WANTED_LIMITS) limits[k] = gpu.limits[k] as number;
    const info: DeviceInfo = {
      vendor: ai.vendor, architecture: ai.architecture, description: ai.description, device: ai.device,
      // Dawn does not report the backend it picked; unless one was asked for, it is the platform's first.
      backend: ai.backendType ?? backend ?? `${PLATFORM_BACKEND[process.platform] ?? 'platform'} (Dawn's default)`,
      fallback: !!ai.isFallbackAdapter, subgroupSizes: [ai.subgroupMinSize ?? 0, ai.subgroupMaxSize ?? 0],
      features: [...gpu.features].sort(), limits, toggles: fast ? [...FAST_TOGGLES] : [],
    };
    if (/null/i.test(info.backend)) throw new NoAdapterError("only Dawn's 'null' backend was found; it computes nothing. " + INSTALL_HINT);
    setPollInterval(poll ?? (info.fallback ? 1 : 0));
    return new Device(gpu, info, { ...opts, memoryBudgetBytes }, navigatorGpu);
  }

  private check(): void {
    if (this.lost) throw new DeviceLostError(`WebGPU device was lost (${this.lost})`);
  }

  private layoutFor(kernel: Kernel): GPUBindGroupLayout {
    let layout = this.layouts.get(kernel);
    if (!layout) {
      layout = this.gpu.createBindGroupLayout({
        label: kernel.name,
        entries: kernel.bindings.map((b) => ({
          binding: b.binding,
          visibility: GPUShaderStage.COMPUTE,
          // The uniform slot moves through the recorder's arena by a dynamic offset, so a bind group depends on
          // the storage buffers alone and the recorder can reuse it (engine/recorder.ts).
          buffer: b.kind === 'uniform' ? { type: 'uniform', hasDynamicOffset: true } : { type: b.kind === 'read' ? 'read-only-storage' : 'storage' },
        })),
      });
      this.layouts.set(kernel, layout);
    }
    return layout;
  }

  /** The pipeline of one variant, compiled on first use; compilation problems are reported naming the kernel. */
  private variant(kernel: Kernel, overrides: OverrideValues): CompiledVariant {
    let byKey = this.pipelines.get(kernel);
    if (!byKey) this.pipelines.set(kernel, (byKey = new Map()));
    const key = kernel.variantKey(overrides);
    let v = byKey.get(key);
    if (!v) {
      if (kernel.needsF16 && !this.hasF16) {
        throw new Error(`kernel '${kernel.name}' reads float16 operands (mixed precision), which needs the feature 'shader-f16'; the adapter ${this.info.description || this.info.device} does not offer it`);
      }
      // The kernel's id tells its range_errors reports apart; one value per kernel, so no extra variants.
      if (kernel.rangeChecked) overrides = { ...overrides, RANGE_KERNEL_ID: kernel.id };
      const layout = this.layoutFor(kernel);
      this.gpu.pushErrorScope('validation');
      const module = this.gpu.createShaderModule({ code: kernel.source, label: kernel.name });
      const constants: Record<string, number> = {};
      for (const [k, x] of Object.entries(overrides)) constants[k] = typeof x === 'boolean' ? Number(x) : x;
      const pipeline = this.gpu.createComputePipeline({
        label: `${kernel.name}[${key}]`,
        layout: this.gpu.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main', constants },
      });
      this.pendingChecks.push(
        Promise.all([module.getCompilationInfo(), this.gpu.popErrorScope()]).then(([ci, err]) => {
          const msgs = ci.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`);
          if (err) msgs.push(err.message);
          if (msgs.length) throw new KernelCompileError(`kernel '${kernel.name}' (${key || 'default variant'}) failed to compile:\n${msgs.join('\n')}`);
        }),
      );
      v = { pipeline, layout };
      byKey.set(key, v);
    }
    return v;
  }

  /**
   * Records one dispatch of `kernel`; `buffers` maps the WGSL binding names to GPU buffers. Refused, with
   * nothing recorded, when a workgroup count or a binding exceeds the device's limits or a bound tensor is
   * invalid (a failed submission should have written it). A range-checked kernel gets range_errors bound here.
   */
  run(kernel: Kernel, opts: { buffers: Record<string, GPUBufferBinding>; params?: ParamValues; overrides?: OverrideValues; workgroups: readonly [number, number, number] }): void {
    this.check();
    const op = currentOp();
    for (let axis = 0; axis < 3; axis++) {
      const n = opts.workgroups[axis]!;
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`${who(kernel, op)}: workgroup count ${'xyz'[axis]} must be a non-negative integer, got ${n}`);
      if (n > this.maxGroups) throw new DeviceLimitError(`${who(kernel, op)}: ${n} workgroups along ${'xyz'[axis]} (grid [${opts.workgroups.join(', ')}]) exceed this device's maxComputeWorkgroupsPerDimension of ${this.maxGroups}`);
    }
    const buffers = new Map(Object.entries(opts.buffers));
    const written = this.written;
    written.length = 0;
    for (const b of kernel.bindings) {
      if (b.kind === 'uniform') continue;
      if (b.name === RANGE_ERRORS) {
        if (buffers.has(b.name)) throw new Error(`${who(kernel, op)}: '${RANGE_ERRORS}' is bound by the device, not by the caller`);
        buffers.set(b.name, { buffer: this.rangeErrors.buffer, offset: 0, size: RANGE_ERROR_BYTES });
        continue;
      }
      const res = buffers.get(b.name);
      if (!res) continue; // the recorder names the missing binding
      const size = res.size ?? res.buffer.size - (res.offset ?? 0);
      if (size > this.maxBinding) {
        throw new DeviceLimitError(`${who(kernel, op)}: binding '${b.name}' is ${size} bytes (${mib(size)}), more than this device's maxStorageBufferBindingSize of ${this.maxBinding} bytes (${mib(this.maxBinding)})`);
      }
      if (b.kind === 'read_write') {
        for (const o of kernel.bindings) {
          if (o !== b && buffers.get(o.name)?.buffer === res.buffer) throw new Error(`${who(kernel, op)}: binding '${b.name}' is written and '${o.name}' binds the same buffer; WebGPU refuses a buffer written by a dispatch to be bound to it twice`);
        }
      }
      const st = ownerOf(res.buffer);
      if (!st) continue;
      if (st.invalid) throw new InvalidTensorError(`${who(kernel, op)}: binding '${b.name}' holds no valid data: ${st.invalid}`);
      if (b.kind === 'read_write') written.push(st);
    }
    if (this.recordOnly) {
      this.recordOnlyDispatches++;
      return;
    }
    const { pipeline, layout } = this.variant(kernel, opts.overrides ?? {});
    this.recordingKernel = kernel;
    this.recordingOp = op;
    try {
      this.recorder.dispatch(kernel, pipeline, layout, buffers, opts.params ?? null, opts.workgroups, written, op);
    } finally {
      this.recordingKernel = null;
    }
    if (kernel.rangeChecked) this.rangeErrors.note(kernel, op);
  }

  /** Compiles every kernel's shader module and waits for the results (WGSL errors name the kernel). */
  async validateKernels(kernels: Kernel[] = loadedKernels()): Promise<void> {
    for (const k of kernels) if (this.hasF16 || !k.needsF16) this.variant(k, {});
    await this.sync();
  }

  /**
   * Refuses (DeviceLimitError) a tensor of `bytes` that a kernel could not bind on this device, or whose pooled
   * buffer the device could not create; the message names `op`, the dtype and the shape.
   */
  checkTensor(bytes: number, shape: Shape, dtype: DType, op: string): void {
    // A size class exceeds its request by less than a quarter (pool.ts).
    if (bytes <= this.maxBinding && bytes * 1.25 <= this.maxBuffer) return;
    this.refuse(bytes, `${op}: a ${dtype} tensor of shape ${fmt(shape)}`);
  }

  private refuse(bytes: number, what: string): void {
    if (bytes > this.maxBinding) {
      throw new DeviceLimitError(`${what} needs ${bytes} bytes (${mib(bytes)}), more than this device's maxStorageBufferBindingSize of ${this.maxBinding} bytes (${mib(this.maxBinding)})`);
    }
    const pooled = sizeClass(bytes);
    if (pooled > this.maxBuffer) {
      throw new DeviceLimitError(`${what} needs a pooled buffer of ${pooled} bytes (${mib(pooled)}, the size class of ${bytes} bytes), more than this device's maxBufferSize of ${this.maxBuffer} bytes`);
    }
  }

  /** A pooled storage buffer of at least `bytes`. */
  acquire(bytes: number): GPUBuffer {
    this.check();
    if (bytes > this.maxBinding || bytes * 1.25 > this.maxBuffer) this.refuse(bytes, `${currentOp() ?? 'acquire'}: a buffer`);
    return this.pool.acquire(bytes);
  }

  /**
   * Returns a buffer to the pool. Released while recording, it is parked until the submit; when parked bytes
   * pass their limit (memory_budget.ts), the recorded work is submitted now (without waiting for it), so that
   * they become reusable. A submit between two recorded commands is always legal: each dispatch's bind group is
   * complete when recorded, and the uniform arena is uploaded at every submit (Recorder.flush).
   */
  release(buf: GPUBuffer): void {
    if (this.lost) return;
    const open = this.recorder.open;
    this.pool.release(buf, open);
    if (open && this.pool.pendingBytes > this.parkedLimit) {
      this.flushesForMemory++;
      this.recorder.flush();
    }
  }

  /** Starts a new stats().peakBytes measurement from the bytes the pool holds now. */
  resetPeakBytes(): void {
    this.pool.resetPeak();
  }

  /**
   * Writes into a buffer fresh from `acquire`. writeBuffer runs at queue level, before any recorded but
   * unsubmitted work; that is safe only because the pool never hands out a buffer such work still uses.
   */
  uploadFresh(buf: GPUBuffer, data: ArrayBufferView): void {
    this.check();
    this.gpu.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /**
   * Records a plain buffer-to-buffer copy of `bytes` in order with the dispatches (no shader: on lavapipe the
   * DMA-style copy is 25-60x faster than a copy kernel).
   */
  copyBuffer(src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
    this.check();
    if (bytes <= 0) return;
    const from = ownerOf(src);
    if (from?.invalid) throw new InvalidTensorError(`${currentOp() ?? 'copy'}: the source holds no valid data: ${from.invalid}`);
    const to = ownerOf(dst);
    // A copy over the whole tensor replaces what was stale (e.g. a checkpoint loaded after a failure).
    if (to && bytes >= to.bytes) to.invalid = null;
    this.recorder.copy(src, 0, dst, 0, Math.ceil(bytes / 4) * 4, to);
  }

  /**
   * Times the work recorded from now until stopProfile with GPU timestamps: every dispatch in its own compute
   * pass ('dispatch', the default), or the compute passes as recorded ('pass'; sum them per submission with
   * gpuSpanMs). Throws when the adapter lacks 'timestamp-query' (see hasTimestamps).
   */
  startProfile(mode: ProfileMode = 'dispatch'): void {
    this.check();
    if (!this.hasTimestamps) throw new Error(`profiling needs the 'timestamp-query' feature, which adapter '${this.info.description || this.info.device}' does not offer`);
    this.recorder.startProfile(mode);
  }

  /** Whether startProfile is in effect. */
  get profiling(): boolean {
    return this.recorder.profiling;
  }

  /** Whether the device can time GPU work with timestamp queries. */
  get hasTimestamps(): boolean {
    return this.gpu.features.has('timestamp-query');
  }

  /** Submits, and returns each timed span's name (kernel, or 'pass') and GPU milliseconds since startProfile, in order. */
  async stopProfile(): Promise<KernelTime[]> {
    this.check();
    const times = await this.recorder.stopProfile();
    await this.throwPending();
    return times;
  }

  /** Submits recorded work now. */
  flush(): void {
    this.check();
    this.recorder.flush();
  }

  /**
   * Submits, waits for the GPU, and throws the first compile or validation error seen so far. With autotune
   * on, then tunes the shape classes met since without a cached entry (engine/tune.ts).
   */
  async sync(): Promise<void> {
    this.check();
    this.recorder.flush();
    const mark = this.recorder.bindGroupsCreated;
    await this.gpu.queue.onSubmittedWorkDone();
    this.groupsAtQuiet = mark;
    await this.throwPending();
    if (this.chooser.autotune && this.chooser.canTune(this)) await this.chooser.tunePending(this);
  }

  private async throwPending(): Promise<void> {
    const checks = await Promise.allSettled(this.pendingChecks.splice(0));
    const rejected = await this.recorder.settle();
    this.check();
    // GPU errors of this batch are drained even when a compile error is thrown: they are its consequences
    // ('Invalid ComputePipeline ...') and must not resurface at the next, unrelated sync.
    const errs = this.gpuErrors.splice(0);
    const failed = checks.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (rejected.length) {
      const e = rejected[0]!;
      if (errs.length) e.message += `\nAlso reported:\n${errs.join('\n')}`;
      throw e;
    }
    if (errs.length) throw new Error(`WebGPU error: ${errs.join('\n')}`);
  }

  /**
   * Copies `bytes` of `buf` to the CPU (one submit, one map). When a range-checked kernel ran since the last
   * read, the range-error words travel in the same staging buffer (one 32-byte copy more), and an
   * out-of-range label or index reported there throws RangeCheckError here, once.
   */
  async readBuffer(buf: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.check();
    const size = Math.ceil(bytes / 4) * 4;
    const sites = this.rangeErrors.pending ? this.rangeErrors.collect() : null;
    const total = size + (sites ? RANGE_ERROR_BYTES : 0);
    const st = this.staging.acquire(total);
    this.recorder.copy(buf, 0, st, 0, size);
    if (sites) this.recorder.copy(this.rangeErrors.buffer, 0, st, size, RANGE_ERROR_BYTES);
    this.recorder.flush();
    let out: ArrayBuffer;
    let words: Uint32Array | null = null;
    try {
      try {
        const mark = this.recorder.bindGroupsCreated;
        await st.mapAsync(GPUMapMode.READ, 0, total);
        this.groupsAtQuiet = mark;
      } catch (e) {
        this.check();
        await this.throwPending();
        throw e;
      }
      const range = st.getMappedRange(0, total);
      out = range.slice(0, bytes);
      if (sites) words = new Uint32Array(range.slice(size, total));
      st.unmap();
      this.staging.release(st, false);
      await this.throwPending();
    } catch (e) {
      // The words copied with a failed submission say nothing: look again at the next read.
      if (sites) this.rangeErrors.restore(sites);
      throw e;
    }
    const rangeError = words && this.rangeErrors.take(words, sites!);
    if (rangeError) throw rangeError;
    return out;
  }

  stats(): DeviceStats {
    return {
      liveTensors: this.liveTensors, liveBytes: this.liveBytes,
      pooledBytes: this.pool.allocatedBytes, freeBytes: this.pool.freeBytes, buffersCreated: this.pool.buffersCreated,
      dispatches: this.recorder.dispatches + this.recordOnlyDispatches, submissions: this.recorder.submissions,
      peakBytes: this.pool.peakBytes, parkedBytes: this.pool.pendingBytes, flushesForMemory: this.flushesForMemory,
      memoryBudgetBytes: this.memoryBudgetBytes, bindGroupsCreated: this.recorder.bindGroupsCreated,
    };
  }

  /**
   * Waits for the GPU to finish what was submitted, then destroys the device: what a program or a test file
   * calls at its end. Destroying a device with work still running on lavapipe's threads crashed the process
   * now and then as it exited (a test worker died after its file had passed). Errors of that last work are
   * not thrown here: the results they concern were never read.
   */
  async close(): Promise<void> {
    if (!this.lost) {
      this.recorder.flush();
      await this.gpu.queue.onSubmittedWorkDone().catch(() => undefined);
    }
    this.destroy();
  }

  /** The device has 'shader-f16': float16 operands and mixed precision (engine/precision.ts) are available. */
  get hasF16(): boolean {
    return this.gpu.features.has('shader-f16');
  }

  /** Destroys the device now; afterwards every use throws. Lets the process exit (Dawn keeps it alive otherwise). */
  destroy(): void {
    // Recorded but unsubmitted work is submitted first: an open command encoder outliving its device
    // crashed the process at exit now and then (Dawn, lavapipe).
    if (!this.lost) this.recorder.flush();
    if (!this.lost) this.lost = 'destroyed';
    this.recorder.destroy();
    this.gpu.destroy();
    this.navigatorGpu = null;
  }
}

let defaultDevice: Device | null = null;

/** Creates the process-wide default device (used when creation functions get no `device`). */
export async function init(opts: DeviceOptions = {}): Promise<Device> {
  defaultDevice = await Device.create(opts);
  return defaultDevice;
}

export function setDefaultDevice(d: Device | null): void {
  defaultDevice = d;
}

export function getDefaultDevice(): Device {
  if (!defaultDevice) throw new Error('no default device: call `await init()` first, or pass { device }');
  return defaultDevice;
}
