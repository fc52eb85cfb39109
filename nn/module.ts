/**
 * Modules: parameters, buffers and child modules under hierarchical names identical to PyTorch's
 * state_dict keys (`layer1.0.conv1.weight`, `bn1.running_mean`), in PyTorch's order (own parameters,
 * own buffers, then children in registration order). Mode (train/eval) is module state, set explicitly.
 */
import { keep } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import type { Device } from '../engine/device.js';
import type { TensorSpec } from '../engine/dtype.js';
import { fmt } from '../engine/shape.js';
import { copyInto } from '../engine/inplace.js';
import { tensorPaths, type TensorContainer } from '../engine/tree.js';

export interface LoadStateDictOptions {
  /** Every key of the module and of the state dict must match (default true). */
  strict?: boolean;
  /** Buffers must be in the state dict too (default: as `strict`); false accepts e.g. a missing num_batches_tracked. */
  strictBuffers?: boolean;
}

export abstract class Module implements TensorContainer {
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  /** Same as forward; the name PyTorch users reach for. */
  call(x: Tensor): Tensor {
    return this.forward(x);
  }

  /** A trainable tensor, kept out of scopes (the module owns it) and marked requiresGrad. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.checkName(name);
    t.requiresGrad = true;
    this.ownParams.set(name, keep(t));
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    this.ownBuffers.set(name, keep(t));
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  /** Registers `m` if given and returns its forward; without it, the identity (nothing in the state_dict). */
  protected registerOptional(name: string, m: Module | null): (x: Tensor) => Tensor {
    if (!m) return (x) => x;
    this.registerModule(name, m);
    return (x) => m.forward(x);
  }

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`invalid name '${name}': names are non-empty and contain no '.'`);
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.children.has(name)) throw new Error(`'${name}' is registered twice`);
  }

  /** The current tensor of an own parameter or buffer (after a load or a functional call swapped it). */
  protected own(name: string): Tensor {
    const t = this.ownParams.get(name) ?? this.ownBuffers.get(name);
    if (!t) throw new Error(`${this.constructor.name} has no parameter or buffer '${name}'`);
    return t;
  }

  protected hasParam(name: string): boolean {
    return this.ownParams.has(name);
  }

  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    return this.collect(prefix, (m) => m.ownParams);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    return this.collect(prefix, (m) => m.ownBuffers);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  private collect(prefix: string, pick: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [n, t] of pick(m)) out.push([path ? `${path}.${n}` : n, t]);
    }
    return out;
  }

  /** Parameters and buffers in PyTorch's state_dict order. */
  stateDict(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const walk = (m: Module, path: string) => {
      for (const [n, t] of m.ownParams) out.push([path ? `${path}.${n}` : n, t]);
      for (const [n, t] of m.ownBuffers) out.push([path ? `${path}.${n}` : n, t]);
      for (const [n, c] of m.children) walk(c, path ? `${path}.${n}` : n);
    };
    walk(this, '');
    return out;
  }

  /**
   * Copies parameters and buffers in by name, in place (as PyTorch's load_state_dict): the module's tensors
   * keep their identity, so an optimizer built over them stays valid. The given tensors are not consumed.
   * Checked first as checkStateDict does; nothing is copied unless everything matches.
   */
  loadStateDict(state: Map<string, Tensor>, opts: LoadStateDictOptions = {}): void {
    this.checkStateDict(state, opts);
    const slots = this.slots();
    for (const [name, t] of state) {
      const s = slots.get(name);
      if (s && s.map.get(s.key) !== t) copyInto(s.map.get(s.key)!, t);
    }
  }

  /**
   * Throws what loadStateDict would refuse, touching nothing; takes shapes and dtypes only, so a checkpoint
   * is checked before any of it is uploaded. Strict by default: every key must match by name, shape and
   * dtype, and the error lists what is missing, unexpected or mismatched. With `strictBuffers: false` a
   * buffer the state dict lacks keeps its current value: PyTorch checkpoints from before 0.4.1 have no
   * BatchNorm `num_batches_tracked`. Parameters stay required while `strict`.
   */
  checkStateDict(state: ReadonlyMap<string, TensorSpec>, opts: LoadStateDictOptions = {}): void {
    const strict = opts.strict ?? true;
    const strictBuffers = opts.strictBuffers ?? strict;
    const slots = this.slots();
    const problems: string[] = [];
    for (const [name, t] of state) {
      const s = slots.get(name);
      if (!s) { if (strict) problems.push(`unexpected key '${name}'`); continue; }
      const cur = s.map.get(s.key)!;
      if (cur.shape.join() !== t.shape.join()) problems.push(`'${name}': shape ${fmt(t.shape)} in the checkpoint, ${fmt(cur.shape)} in the model`);
      else if (cur.dtype !== t.dtype) problems.push(`'${name}': dtype ${t.dtype} in the checkpoint, ${cur.dtype} in the model`);
    }
    for (const [name, s] of slots) {
      if (state.has(name) || !(s.param ? strict : strictBuffers)) continue;
      problems.push(`missing key '${name}'${s.param ? '' : ' (a buffer: strictBuffers: false keeps the model\'s value)'}`);
    }
    if (problems.length) throw new Error(`loadStateDict: ${problems.join('; ')}`);
  }

  private slots(): Map<string, { map: Map<string, Tensor>; key: string; param: boolean }> {
    const out = new Map<string, { map: Map<string, Tensor>; key: string; param: boolean }>();
    for (const [path, m] of this.namedModules()) {
      for (const k of m.ownParams.keys()) out.set(path ? `${path}.${k}` : k, { map: m.ownParams, key: k, param: true });
      for (const k of m.ownBuffers.keys()) out.set(path ? `${path}.${k}` : k, { map: m.ownBuffers, key: k, param: false });
    }
    return out;
  }

  /**
   * Runs fn with some parameters or buffers replaced by the given tensors, then puts the originals back.
   * `substitute` is a tensor tree whose paths are state_dict names: a Map or object keyed by full names
   * (`{ 'fc.weight': t }`), nested objects (`{ fc: { weight: t } }`), or a mix. Soups evaluate a network on
   * interpolated weights this way; gradients flow into the substituted tensors, nothing is copied.
   */
  functionalCall<T>(substitute: unknown, fn: () => T): T {
    const slots = this.slots();
    const saved: [Map<string, Tensor>, string, Tensor][] = [];
    try {
      for (const [name, t] of tensorPaths(substitute)) {
        const s = slots.get(name);
        if (!s) throw new Error(`functionalCall: no parameter or buffer named '${name}'`);
        const cur = s.map.get(s.key)!;
        if (cur.shape.join() !== t.shape.join()) throw new Error(`functionalCall: '${name}' has shape ${fmt(cur.shape)}, the substitute ${fmt(t.shape)}`);
        if (cur.dtype !== t.dtype) throw new Error(`functionalCall: '${name}' is ${cur.dtype}, the substitute ${t.dtype}`);
        t.assertLive(`functionalCall ('${name}')`);
        saved.push([s.map, s.key, cur]);
        s.map.set(s.key, t);
      }
      return fn();
    } finally {
      for (const [map, key, t] of saved) map.set(key, t);
    }
  }

  /** The module's parameters and buffers, in state_dict order (what tensor trees see of a module). */
  tensors(): Tensor[] {
    return this.stateDict().map(([, t]) => t);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Applies fn to this module and every descendant (e.g. custom initialisation). */
  apply(fn: (m: Module, name: string) => void): this {
    for (const [n, m] of this.namedModules()) fn(m, n);
    return this;
  }

  /** Freezes (or unfreezes) parameters whose name starts with one of `prefixes` (all when none). */
  requiresGrad(flag: boolean, ...prefixes: string[]): this {
    for (const [n, t] of this.namedParameters()) {
      if (!prefixes.length || prefixes.some((p) => n === p || n.startsWith(`${p}.`))) t.requiresGrad = flag;
    }
    return this;
  }

  zeroGrad(): void {
    for (const t of this.parameters()) { t.grad?.dispose(); t.grad = null; }
  }

  numParameters(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  get device(): Device {
    const first = this.stateDict()[0];
    if (!first) throw new Error(`${this.constructor.name} has no tensors, hence no device`);
    return first[1].device;
  }

  /** Disposes every parameter, buffer and gradient. */
  dispose(): void {
    for (const [, t] of this.stateDict()) t.dispose();
  }
}

/** model.forward(x) on substituted parameters/buffers (a tree keyed by state_dict paths), as torch.func.functional_call. */
export function functionalCall(model: Module, params: unknown, x: Tensor): Tensor {
  return model.functionalCall(params, () => model.forward(x));
}
