/**
 * What every optimizer shares, as torch.optim.Optimizer: parameter groups whose hyperparameters override the
 * defaults (e.g. no weight decay on BatchNorm and biases), a step that updates each parameter that has a
 * `.grad` in place (one fused kernel dispatch per parameter tensor, no readback), per-parameter state
 * (GPU buffers, and the step count on the CPU), zeroGrad, and a state dict of plain data and tensors.
 *
 * The state dict follows PyTorch's layout and names, so that checkpoints read like PyTorch's:
 * `{ state: { [index]: { step, momentum_buffer | exp_avg, exp_avg_sq, max_exp_avg_sq } },
 *    param_groups: [{ lr, weight_decay, ..., params: [index, ...] }] }`, parameters indexed in group order.
 */
import { empty, zerosLike } from '../create.js';
import { keep } from '../scope.js';
import { noGrad } from '../tape.js';
import { fmt, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { Device } from '../device.js';
import type { TensorSpec } from '../dtype.js';
import * as o from '../ops/index.js';

export type HyperValue = number | boolean | readonly number[];

/** A parameter group as given: its tensors, and hyperparameters overriding the optimizer's defaults. */
export type ParamGroupOptions<H> = { params: readonly Tensor[] } & Partial<H>;

/** A parameter group as used: every hyperparameter resolved. Schedulers change `lr` here. */
export type ParamGroup<H> = { params: Tensor[] } & H;

export interface OptimizerStateDict {
  /** Per parameter index, PyTorch's names (`step`, `momentum_buffer`, `exp_avg`, ...). The tensors are the optimizer's own. */
  state: Record<number, Record<string, Tensor | number>>;
  /** Each group's hyperparameters by PyTorch's names, and the indices of its parameters. */
  param_groups: ({ params: number[] } & Record<string, HyperValue>)[];
}

/** A state dict whose state tensors may be described by shape and dtype only (a checkpoint before its upload). */
export interface OptimizerStateSpec {
  state: Record<number, Record<string, Tensor | TensorSpec | number>>;
  param_groups: OptimizerStateDict['param_groups'];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isSpec(v: unknown): v is TensorSpec {
  return v instanceof Tensor || (isRecord(v) && Array.isArray(v.shape) && typeof v.dtype === 'string');
}

/** Per-parameter state: the number of steps taken and named GPU buffers (absent until the first step). */
export interface ParamState { step: number; buffers: Map<string, Tensor> }

/** How one hyperparameter is named in the state dict and checked. */
export interface HyperSpec { key: string; check: (v: unknown) => string | null }

export const checks = {
  nonNegative: (v: unknown): string | null => (typeof v === 'number' && v >= 0 && Number.isFinite(v) ? null : 'a finite number >= 0'),
  number: (v: unknown): string | null => (typeof v === 'number' && Number.isFinite(v) ? null : 'a finite number'),
  boolean: (v: unknown): string | null => (typeof v === 'boolean' ? null : 'true or false'),
  betas: (v: unknown): string | null =>
    (Array.isArray(v) && v.length === 2 && v.every((b) => typeof b === 'number' && b >= 0 && b < 1) ? null : 'two numbers in [0, 1)'),
};

export abstract class Optimizer<H extends { lr: number }> {
  readonly paramGroups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();
  private readonly placeholders = new Map<Device, Tensor>();

  protected constructor(
    readonly name: string,
    params: readonly Tensor[] | readonly ParamGroupOptions<H>[],
    readonly defaults: Readonly<H>,
    /** Hyperparameter name -> state-dict key and check; also the list of options a group may set. */
    private readonly hyper: { [K in keyof H]: HyperSpec },
    /** The names of the state buffers loadStateDict accepts. */
    private readonly bufferNames: readonly string[],
  ) {
    if (!Array.isArray(params) || params.length === 0) throw new Error(`${name}: got an empty parameter list`);
    const groups: readonly ParamGroupOptions<H>[] = params[0] instanceof Tensor ? [{ params: params as readonly Tensor[] } as ParamGroupOptions<H>] : (params as readonly ParamGroupOptions<H>[]);
    this.checkHyper(defaults, `${name}: options`);
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, gi) => {
      const where = `${name}: param group ${gi}`;
      if (!g || typeof g !== 'object' || !Array.isArray(g.params)) throw new TypeError(`${where}: expected { params: Tensor[], ...options }, got ${String(g)}`);
      for (const k of Object.keys(g)) {
        if (k !== 'params' && !(k in hyper)) throw new TypeError(`${where}: unknown option '${k}' (options: ${Object.keys(hyper).join(', ')})`);
      }
      g.params.forEach((p, i) => {
        if (!(p instanceof Tensor)) throw new TypeError(`${where}: params[${i}] is not a Tensor`);
        p.assertLive(`${where}: params[${i}]`);
        if (p.dtype !== 'float32') throw new TypeError(`${where}: params[${i}] (tensor #${p.id}) is ${p.dtype}, optimizers update float32 tensors`);
        if (seen.has(p)) throw new Error(`${where}: params[${i}] (tensor #${p.id}) appears more than once among the parameter groups`);
        seen.add(p);
      });
      const resolved = { ...defaults, ...g, params: [...g.params] } as ParamGroup<H>;
      this.checkHyper(resolved, where);
      return resolved;
    });
  }

  private checkHyper(h: Partial<H>, where: string): void {
    for (const [k, spec] of Object.entries(this.hyper) as [string, HyperSpec][]) {
      const v = (h as Record<string, unknown>)[k];
      if (v === undefined) continue;
      const want = spec.check(v);
      if (want) throw new RangeError(`${where}: ${k} must be ${want}, got ${JSON.stringify(v)}`);
    }
    this.checkGroup(h, where);
  }

  /** Checks across hyperparameters (SGD: nesterov needs momentum and no dampening). */
  protected checkGroup(_h: Partial<H>, _where: string): void {}

  /** Dispatches the fused update of one parameter with its gradient (both checked). */
  protected abstract update(p: Tensor, g: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /** The gate of the step being recorded (see step). */
  protected currentGate: Tensor | null = null;

  /**
   * Updates every parameter that has a gradient, in place; parameters without `.grad` are skipped. With
   * `gate` (a float32 [1] tensor), the update happens on the GPU only where gate[0] != 0: a training step whose
   * loss or gradients went non-finite is skipped without a readback (engine/health.ts). The CPU-side step
   * count advances either way, so Adam's bias correction counts a skipped step (PyTorch's AMP does not).
   */
  step(opts: { gate?: Tensor } = {}): void {
    const gate = opts.gate ?? null;
    if (gate) {
      gate.assertLive(`${this.name}.step (gate)`);
      if (gate.size !== 1 || gate.dtype !== 'float32') throw new TypeError(`${this.name}.step: gate must be a float32 tensor of one element, got ${gate.dtype} [${gate.shape}]`);
    }
    this.currentGate = gate;
    try {
      this.stepAll();
    } finally {
      this.currentGate = null;
    }
  }

  private stepAll(): void {
    noGrad(() => {
      for (const [gi, group] of this.paramGroups.entries()) {
        this.checkHyper(group, `${this.name}.step: param group ${gi}`);
        for (const p of group.params) {
          const g = p.grad;
          if (!g) continue;
          p.assertLive(`${this.name}.step`);
          g.assertLive(`${this.name}.step (gradient of tensor #${p.id})`);
          if (!sameShape(g.shape, p.shape)) throw new RangeError(`${this.name}.step: the gradient of tensor #${p.id} has shape ${fmt(g.shape)}, expected the parameter's ${fmt(p.shape)}`);
          if (g.dtype !== 'float32') throw new TypeError(`${this.name}.step: the gradient of tensor #${p.id} is ${g.dtype}, expected float32`);
          if (g.device !== p.device) throw new Error(`${this.name}.step: tensor #${p.id} and its gradient are on different devices`);
          let st = this.state.get(p);
          if (!st) this.state.set(p, (st = { step: 0, buffers: new Map() }));
          st.step++;
          this.update(p, g, group, st);
          // In place: a tensor saved for a backward before this step must not be used by it any more.
          p.storage.version++;
        }
      }
    });
  }

  /** Disposes every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Sets the learning rate of every group. */
  setLr(lr: number): void {
    const want = checks.nonNegative(lr);
    if (want) throw new RangeError(`${this.name}.setLr: lr must be ${want}, got ${lr}`);
    for (const g of this.paramGroups) g.lr = lr;
  }

  /**
   * A state buffer of p, owned by the optimizer. On first use it is allocated uninitialised (the kernels treat
   * a fresh buffer as zeros without reading it), or zero-filled when `zeroed` (a buffer that appears later
   * than its siblings, e.g. amsgrad switched on mid-run).
   */
  protected buffer(p: Tensor, st: ParamState, name: string, zeroed = false): { t: Tensor; fresh: boolean } {
    const t = st.buffers.get(name);
    if (t) return { t, fresh: false };
    const made = keep(zeroed ? zerosLike(p) : empty(p.device, p.shape));
    st.buffers.set(name, made);
    return { t: made, fresh: true };
  }

  /** A 1-element buffer to bind where a kernel variant declares a buffer it does not use. */
  protected placeholder(device: Device): Tensor {
    let t = this.placeholders.get(device);
    if (!t) this.placeholders.set(device, (t = keep(empty(device, [1]))));
    return t;
  }

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** The optimizer's state as plain data and its own tensors (read or copy them; do not dispose them). */
  stateDict(): OptimizerStateDict {
    const index = new Map(this.allParams().map((p, i) => [p, i]));
    const state: OptimizerStateDict['state'] = {};
    for (const [p, st] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      state[i] = { step: st.step, ...Object.fromEntries(st.buffers) };
    }
    const param_groups = this.paramGroups.map((g) => {
      const out: Record<string, HyperValue> = {};
      for (const [k, spec] of Object.entries(this.hyper) as [string, HyperSpec][]) {
        const v = (g as Record<string, unknown>)[k] as HyperValue;
        out[spec.key] = Array.isArray(v) ? [...v] : v;
      }
      return { ...out, params: g.params.map((p) => index.get(p)!) };
    });
    return { state, param_groups };
  }

  /**
   * Restores hyperparameters and state from stateDict() of an optimizer over parameters of the same shapes,
   * grouped alike. Checked first as checkStateDict does, so a refused state dict changes nothing. Tensors are
   * copied, so the source may be disposed afterwards.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const { hypers, states } = this.plan(sd);
    const next = new Map<Tensor, ParamState>();
    const made: Tensor[] = [];
    try {
      for (const [p, step, buffers] of states) {
        const st: ParamState = { step, buffers: new Map() };
        for (const [name, v] of buffers) {
          const copy = keep(noGrad(() => o.clone(v as Tensor)));
          made.push(copy);
          st.buffers.set(name, copy);
        }
        next.set(p, st);
      }
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
    this.disposeState();
    for (const [p, st] of next) this.state.set(p, st);
    hypers.forEach((h, gi) => Object.assign(this.paramGroups[gi]!, h));
  }

  /**
   * Throws what loadStateDict would refuse, changing nothing. State tensors may be given as shapes and dtypes
   * only, so that a checkpoint's optimizer state is checked before anything of it is uploaded or loaded.
   */
  checkStateDict(sd: OptimizerStateSpec): void {
    this.plan(sd);
  }

  /** Checks a state dict against this optimizer and pairs each state entry with its parameter. */
  private plan(sd: OptimizerStateSpec): { hypers: Record<string, unknown>[]; states: [Tensor, number, [string, Tensor | TensorSpec][]][] } {
    const what = `${this.name}.loadStateDict`;
    if (!isRecord(sd) || !Array.isArray(sd.param_groups) || !isRecord(sd.state)) throw new TypeError(`${what}: expected { state, param_groups }`);
    if (sd.param_groups.length !== this.paramGroups.length) throw new RangeError(`${what}: the state dict has ${sd.param_groups.length} parameter groups, this optimizer ${this.paramGroups.length}`);
    const byKey = new Map((Object.entries(this.hyper) as [string, HyperSpec][]).map(([k, s]) => [s.key, k]));
    // The state dict's indices mapped to this optimizer's parameters, group by group.
    const params = new Map<number, Tensor>();
    const hypers = sd.param_groups.map((sg: unknown, gi) => {
      const g = this.paramGroups[gi]!;
      if (!isRecord(sg)) throw new TypeError(`${what}: param_groups[${gi}]: expected { params: number[], ...hyperparameters }, got ${JSON.stringify(sg)}`);
      if (!Array.isArray(sg.params) || sg.params.length !== g.params.length) {
        throw new RangeError(`${what}: param_groups[${gi}] has ${Array.isArray(sg.params) ? sg.params.length : 'no'} parameters, this optimizer's group ${gi} has ${g.params.length}`);
      }
      sg.params.forEach((idx: unknown, j) => {
        if (typeof idx !== 'number' || !Number.isSafeInteger(idx) || idx < 0) throw new TypeError(`${what}: param_groups[${gi}].params[${j}]: expected a parameter index (an integer >= 0), got ${JSON.stringify(idx)}`);
        if (params.has(idx)) throw new RangeError(`${what}: param_groups[${gi}].params[${j}]: index ${idx} appears more than once`);
        params.set(idx, g.params[j]!);
      });
      const h: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(sg)) {
        if (key === 'params') continue;
        const name = byKey.get(key);
        if (!name) throw new TypeError(`${what}: param_groups[${gi}] has unknown hyperparameter '${key}' (${[...byKey.keys()].join(', ')})`);
        h[name] = Array.isArray(v) ? [...(v as unknown[])] : v;
      }
      this.checkHyper({ ...g, ...h } as Partial<H>, `${what}: param_groups[${gi}]`);
      return h;
    });
    const states: [Tensor, number, [string, Tensor | TensorSpec][]][] = [];
    for (const [key, entry] of Object.entries(sd.state)) {
      const p = /^(0|[1-9]\d*)$/.test(key) ? params.get(Number(key)) : undefined;
      if (!p) throw new RangeError(`${what}: state[${key}] names no parameter of param_groups`);
      if (!isRecord(entry)) throw new TypeError(`${what}: state[${key}]: expected an object of state, got ${JSON.stringify(entry)}`);
      let step = 0;
      const buffers: [string, Tensor | TensorSpec][] = [];
      for (const [name, v] of Object.entries(entry)) {
        const where = `${what}: state[${key}].${name}`;
        if (name === 'step') {
          if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new TypeError(`${where}: expected an integer >= 0, got ${String(v)}`);
          step = v;
          continue;
        }
        if (!this.bufferNames.includes(name)) throw new TypeError(`${where}: unknown state (${this.name} keeps step, ${this.bufferNames.join(', ')})`);
        if (!isSpec(v)) throw new TypeError(`${where}: expected a Tensor`);
        if (v instanceof Tensor) {
          v.assertLive(where);
          if (v.device !== p.device) throw new Error(`${where}: the tensor is on another device than its parameter`);
        }
        if (!sameShape(v.shape, p.shape) || v.dtype !== 'float32') throw new RangeError(`${where}: float32 ${fmt(p.shape)} expected (the parameter's shape), got ${v.dtype} ${fmt(v.shape)}`);
        buffers.push([name, v]);
      }
      states.push([p, step, buffers]);
    }
    return { hypers, states };
  }

  private disposeState(): void {
    for (const st of this.state.values()) for (const t of st.buffers.values()) t.dispose();
    this.state.clear();
  }

  /** Frees the optimizer's GPU state (momentum and moment buffers). */
  dispose(): void {
    this.disposeState();
    for (const t of this.placeholders.values()) t.dispose();
    this.placeholders.clear();
  }
}
