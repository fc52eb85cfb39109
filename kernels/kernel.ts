/**
 * A compute kernel: one WGSL source file, reflected once with wgsl_reflect so that its bind-group layout,
 * its uniform `params` struct and its workgroup size are read from the source instead of restated here.
 * Pipelines are cached per device by the values of the source's `override` constants (variants),
 * never by tensor shapes, which travel in the uniform.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { KernelChooser } from './choice.js';
import { withHalfInputs } from './half_inputs.js';

/** Where the .wgsl files are: next to this file in the sources, and kernels/ at the package root from dist/. */
function kernelDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'kernels')}`) ? join(here, '..', '..', 'kernels') : here;
}

export type BindingKind = 'read' | 'read_write' | 'uniform';
export interface BindingInfo { name: string; binding: number; kind: BindingKind }
type Scalar = 'u32' | 'i32' | 'f32';
interface ParamField { name: string; offset: number; scalar: Scalar; lanes: number }
export type OverrideValues = Record<string, number | boolean>;
export type ParamValues = Record<string, number | readonly number[]>;

export class KernelCompileError extends Error {}

function expandIncludes(file: string, seen: Set<string>): string {
  if (seen.has(file)) return '';
  seen.add(file);
  const text = readFileSync(join(kernelDir(), file), 'utf8');
  return text.replace(/^\/\/!include (\S+)\s*$/gm, (_, inc: string) => expandIncludes(inc, seen));
}

/** What kernel wrappers dispatch through (the engine's Device implements it). */
export interface Dispatcher {
  run(kernel: Kernel, opts: { buffers: Record<string, GPUBufferBinding>; params?: ParamValues; overrides?: OverrideValues; workgroups: readonly [number, number, number] }): void;
  /**
   * The most outputs a register-blocked kernel should keep per thread (its accumulators). Unlimited on a CPU
   * adapter, where bigger blocks load less per multiply-add; a GPU spills past its register file.
   */
  readonly maxOutputsPerThread?: number;
  /** Tuned kernel choices and what the selection functions need to know of the device (kernels/choice.ts). */
  readonly chooser?: KernelChooser;
}

/** Workgroup counts for `threads` threads in groups of `wg`, folded into 2-D past 65535 groups (see lib/grid.wgsl). */
export function grid1d(threads: number, wg: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(threads / wg));
  if (groups <= 65535) return [groups, 1, 1];
  const x = 65535;
  return [x, Math.ceil(groups / x), 1];
}

/** Packs up to 8 dims into the `array<vec4<u32>, 2>` layout the kernels use. */
export function dims8(values: readonly number[]): number[] {
  if (values.length > 8) throw new RangeError(`rank ${values.length} exceeds the kernels' maximum of 8`);
  return [...values, ...new Array<number>(8 - values.length).fill(0)];
}

const registry = new Map<string, Kernel>();
let nextKernelId = 1;

/**
 * The binding through which a kernel reports out-of-range labels or indices (lib/range_check.wgsl). A kernel
 * that declares it (by including the lib) gets the device's error words bound by Device.run, and its id
 * through the override RANGE_KERNEL_ID; wrappers pass neither.
 */
export const RANGE_ERRORS = 'range_errors';

interface ReflectedType { name: string; format?: ReflectedType | null }
interface ParamsStruct { size: number; members: { name: string; offset: number; type: ReflectedType; count: number }[] }

export class Kernel {
  /** Unique per kernel in the process: how range_errors reports say which kernel found a bad index. */
  readonly id = nextKernelId++;
  readonly bindings: BindingInfo[];
  readonly workgroupSize: [number, number, number];
  readonly paramsSize: number;
  readonly overrideNames: string[];
  /** Declares the range_errors binding: checks its labels or indices on the GPU (lib/range_check.wgsl). */
  readonly rangeChecked: boolean;
  private readonly fields: ParamField[];
  private readonly fieldByName: Map<string, ParamField>;

  constructor(readonly name: string, readonly source: string) {
    let reflect: WgslReflect;
    try {
      reflect = new WgslReflect(source);
    } catch (e) {
      throw new KernelCompileError(`kernel '${name}': WGSL does not parse: ${(e as Error).message}`);
    }
    const entries = reflect.entry.compute;
    if (entries.length !== 1) throw new KernelCompileError(`kernel '${name}': expected one @compute entry point, found ${entries.length}`);
    const entry = entries[0]!;
    this.workgroupSize = (entry.workgroupSize ?? [1, 1, 1]) as [number, number, number];
    this.bindings = [];
    let params = null as ParamsStruct | null;
    for (const group of reflect.getBindGroups()) {
      for (const v of group) {
        if (!v) continue;
        if (v.group !== 0) throw new KernelCompileError(`kernel '${name}': only @group(0) is supported, '${v.name}' is in group ${v.group}`);
        const kind: BindingKind = v.resourceType === 0 ? 'uniform' : v.access === 'read' ? 'read' : 'read_write';
        if (kind === 'uniform') {
          if (v.name !== 'params') throw new KernelCompileError(`kernel '${name}': the uniform must be named 'params', found '${v.name}'`);
          params = v.type as unknown as ParamsStruct;
        }
        this.bindings.push({ name: v.name, binding: v.binding, kind });
      }
    }
    this.bindings.sort((a, b) => a.binding - b.binding);
    for (let i = 1; i < this.bindings.length; i++) {
      const [a, b] = [this.bindings[i - 1]!, this.bindings[i]!];
      if (a.binding === b.binding) throw new KernelCompileError(`kernel '${name}': '${a.name}' and '${b.name}' both use @binding(${a.binding})`);
    }
    this.rangeChecked = this.bindings.some((b) => b.name === RANGE_ERRORS);
    this.fields = [];
    this.paramsSize = params?.size ?? 0;
    for (const m of params?.members ?? []) {
      const t = m.type;
      let scalar = t.name;
      let lanes = 1;
      let count = 1;
      let elem = t;
      if (t.name === 'array') { count = m.count; elem = t.format!; scalar = elem.name; }
      const vec = /^vec([234])/.exec(elem.name);
      if (vec) { lanes = Number(vec[1]); scalar = elem.format?.name ?? 'f32'; }
      if (scalar !== 'u32' && scalar !== 'i32' && scalar !== 'f32') throw new KernelCompileError(`kernel '${name}': params.${m.name} has unsupported type ${t.name}`);
      this.fields.push({ name: m.name, offset: m.offset, scalar, lanes: lanes * count });
    }
    this.fieldByName = new Map(this.fields.map((f) => [f.name, f]));
    this.overrideNames = reflect.overrides.map((o) => o.name);
    if (this.rangeChecked && !this.overrideNames.includes('RANGE_KERNEL_ID')) {
      throw new KernelCompileError(`kernel '${name}': declares '${RANGE_ERRORS}' without the override RANGE_KERNEL_ID (declare both by including lib/range_check.wgsl)`);
    }
  }

  /**
   * Loads `kernels/<file>` once and registers it under `name`. A line `//!include lib/x.wgsl` is replaced by
   * that file, so helpers shared by several kernels are written once. `halfInputs` derives the
   * mixed-precision variant whose named operands are float16 storage (kernels/half_inputs.ts).
   */
  static fromFile(name: string, file: string, opts: { halfInputs?: readonly string[] } = {}): Kernel {
    const existing = registry.get(name);
    if (existing) return existing;
    const source = expandIncludes(file, new Set());
    const k = new Kernel(name, opts.halfInputs ? withHalfInputs(source, opts.halfInputs, name) : source);
    registry.set(name, k);
    return k;
  }

  /** Needs the device feature 'shader-f16' (its source enables f16). */
  get needsF16(): boolean {
    return /^\s*enable\s+f16\s*;/m.test(this.source);
  }

  /** Writes params into `view` at byte offset `at`, checking that every struct member is given and no other. */
  packParams(values: ParamValues, view: DataView, at: number): void {
    for (const key of Object.keys(values)) {
      if (!this.fieldByName.has(key)) throw new Error(`kernel '${this.name}': unknown param '${key}' (params has ${this.fields.map((f) => f.name).join(', ')})`);
    }
    for (const f of this.fields) {
      const v = values[f.name];
      if (v === undefined) throw new Error(`kernel '${this.name}': param '${f.name}' not given`);
      const arr = typeof v === 'number' ? [v] : v;
      if (arr.length > f.lanes) throw new Error(`kernel '${this.name}': param '${f.name}' takes at most ${f.lanes} values, got ${arr.length}`);
      for (let i = 0; i < f.lanes; i++) {
        const x = arr[i] ?? 0;
        const o = at + f.offset + 4 * i;
        if (f.scalar === 'f32') view.setFloat32(o, x, true);
        else if (f.scalar === 'i32') view.setInt32(o, x, true);
        else view.setUint32(o, x >>> 0, true);
      }
    }
  }

  /** A stable key for one variant: the override values in source order. */
  variantKey(overrides: OverrideValues): string {
    for (const key of Object.keys(overrides)) {
      if (!this.overrideNames.includes(key)) throw new Error(`kernel '${this.name}': unknown override '${key}' (has ${this.overrideNames.join(', ') || 'none'})`);
    }
    return this.overrideNames.map((n) => `${n}=${overrides[n] ?? ''}`).join(',');
  }
}

/** Every kernel loaded so far (the device compiles their modules up front to report WGSL errors early). */
export function loadedKernels(): Kernel[] {
  return [...registry.values()];
}
