/**
 * Checkpoints in safetensors: the model's state_dict under PyTorch's names (num_batches_tracked as I64, as
 * PyTorch stores it), optionally the optimizer state (tensors under `optimizer.state.<i>.<name>`) and the
 * RNG state, with metadata (architecture, activation, normalisation, training config, epoch, metrics) as
 * JSON strings. Written to a temporary file and renamed, so a crash never corrupts the previous checkpoint.
 * Loading checks every name, shape and dtype, the optimizer and RNG state and the metadata before it
 * changes anything, and names what differs.
 */
import { readSafetensors, writeSafetensors, SafetensorsError, type StTensor } from './safetensors.js';
import { tensor } from '../engine/create.js';
import type { Module } from './module.js';
import type { Optimizer, OptimizerStateDict } from '../engine/optim/index.js';
import { generatorStateProblem, type Generator, type GeneratorState } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import type { Device } from '../engine/device.js';
import type { DType, TensorSpec } from '../engine/dtype.js';
import { fmt } from '../engine/shape.js';

export interface CheckpointMeta {
  architecture?: string;
  activation?: string;
  normalize?: { mean: number[]; std: number[] } | null;
  config?: Record<string, unknown>;
  epoch?: number;
  metrics?: Record<string, number>;
  [key: string]: unknown;
}

/** Where saveCheckpoint puts the optimizer's tensors (not the model's). */
export const OPT_PREFIX = 'optimizer.state.';

/** A checkpoint that does not fit the model, optimizer or generator, or that holds corrupt metadata. */
export class CheckpointError extends SafetensorsError {}

async function toStored(path: string, name: string, t: Tensor, allowNonFinite: boolean): Promise<StTensor> {
  const data = await t.read();
  if (t.dtype === 'float32') {
    if (!allowNonFinite) {
      const i = data.findIndex((v) => !Number.isFinite(v));
      if (i >= 0) throw new CheckpointError(`${path}: not saved: '${name}' ${fmt(t.shape)} has ${data[i]} at element ${i}; pass allowNonFinite: true to save non-finite values`);
    }
    return { dtype: 'F32', shape: [...t.shape], data: data as Float32Array };
  }
  // PyTorch keeps counters such as num_batches_tracked as int64.
  return { dtype: name.endsWith('num_batches_tracked') ? 'I64' : 'I32', shape: [...t.shape], data: Int32Array.from(data) };
}

function engineDType(t: StTensor): DType {
  return t.dtype === 'I64' || t.dtype === 'I32' || t.dtype === 'U8' ? 'int32' : 'float32';
}

function toTensor(t: StTensor, device: Device): Tensor {
  const dtype = engineDType(t);
  return tensor(dtype === 'int32' ? Int32Array.from(t.data) : Float32Array.from(t.data), t.shape, { device, dtype });
}

function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export interface SaveOptions {
  optimizer?: Optimizer<{ lr: number }>;
  generator?: Generator;
  meta?: CheckpointMeta;
  /**
   * Save weights and optimizer state holding NaN or +-Inf. Refused by default, so that a diverged run does
   * not overwrite its last good checkpoint; the error names the tensor, the first bad element and its value.
   */
  allowNonFinite?: boolean;
}

/**
 * Saves a model (and optionally optimizer and RNG state) to `path`; reads the tensors back from the GPU and
 * checks them there, before anything is written.
 */
export async function saveCheckpoint(path: string, model: Module, opts: SaveOptions = {}): Promise<void> {
  const allow = opts.allowNonFinite ?? false;
  const entries: [string, StTensor][] = [];
  for (const [name, t] of model.stateDict()) entries.push([name, await toStored(path, name, t, allow)]);
  const metadata: Record<string, string> = { format: 'pt', robustgpu: JSON.stringify(opts.meta ?? {}) };
  if (opts.optimizer) {
    const sd: OptimizerStateDict = opts.optimizer.stateDict();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [i, st] of Object.entries(sd.state)) {
      for (const [k, v] of Object.entries(st)) {
        const key = `${OPT_PREFIX}${i}.${k}`;
        if (typeof v === 'number') (scalars[i] ??= {})[k] = v;
        else entries.push([key, await toStored(path, key, v, allow)]);
      }
    }
    metadata.optimizer = JSON.stringify({ param_groups: sd.param_groups, scalars });
  }
  if (opts.generator) metadata.rng = JSON.stringify(opts.generator.getState());
  writeSafetensors(path, entries, metadata);
}

export interface LoadOptions {
  optimizer?: Optimizer<{ lr: number }>;
  generator?: Generator;
  strict?: boolean;
  /** Buffers must be in the checkpoint too (default: as `strict`); false accepts one without num_batches_tracked (PyTorch < 0.4.1). */
  strictBuffers?: boolean;
  /**
   * Keys to drop before loading, by prefix: e.g. 'sub_block1' (the unused block of the TRADES WideResNet
   * definition that its checkpoints carry) or 'module' prefixes are handled by `renamePrefix`.
   */
  ignorePrefixes?: string[];
  /** Rename key prefixes, e.g. { 'module.': '' } for checkpoints saved from nn.DataParallel. */
  renamePrefix?: Record<string, string>;
}

/**
 * Loads a checkpoint written by saveCheckpoint or exported from PyTorch (state_dict in safetensors). All or
 * nothing: the file, the model's names, shapes and dtypes, the optimizer state against the optimizer's
 * parameters and groups, the RNG state and the metadata are all checked before the model, the optimizer or
 * the generator is touched, so a refused checkpoint leaves the three exactly as they were.
 */
export function loadCheckpoint(path: string, model: Module, opts: LoadOptions = {}): CheckpointMeta {
  const file = readSafetensors(path);
  const fail = (msg: string): never => { throw new CheckpointError(`${path}: ${msg}`); };
  const json = (key: string): unknown => {
    try {
      return JSON.parse(file.metadata[key]!);
    } catch (e) {
      return fail(`metadata '${key}' is not valid JSON: ${(e as Error).message}`);
    }
  };
  const meta = file.metadata.robustgpu === undefined ? {} : json('robustgpu');
  if (!isRecord(meta)) fail(`metadata 'robustgpu': expected a JSON object, got ${JSON.stringify(meta)}`);

  const state = new Map<string, StTensor>();
  const optTensors = new Map<string, StTensor>();
  const drop = opts.ignorePrefixes ?? [];
  for (const [raw, t] of file.tensors) {
    if (raw.startsWith(OPT_PREFIX)) { optTensors.set(raw.slice(OPT_PREFIX.length), t); continue; }
    let name = raw;
    for (const [from, to] of Object.entries(opts.renamePrefix ?? {})) if (name.startsWith(from)) name = to + name.slice(from.length);
    if (drop.some((p) => name === p || name.startsWith(`${p}.`))) continue;
    if (state.has(name)) fail(`tensor '${raw}' is renamed to '${name}', which another tensor already has`);
    state.set(name, t);
  }
  try {
    model.checkStateDict(new Map([...state].map(([k, t]) => [k, { shape: t.shape, dtype: engineDType(t) }])), { strict: opts.strict ?? true, strictBuffers: opts.strictBuffers });
  } catch (e) {
    fail((e as Error).message);
  }

  let optScalars: OptimizerStateDict['state'] | null = null;
  let optGroups: OptimizerStateDict['param_groups'] = [];
  const optUploads: [string, string, StTensor][] = [];
  if (opts.optimizer) {
    if (file.metadata.optimizer === undefined) fail('no optimizer state in this checkpoint');
    const m = json('optimizer');
    if (!isRecord(m) || !Array.isArray(m.param_groups) || !isRecord(m.scalars)) fail(`metadata 'optimizer': expected {param_groups: [...], scalars: {index: {name: number}}}`);
    const { param_groups, scalars } = m as { param_groups: OptimizerStateDict['param_groups']; scalars: Record<string, unknown> };
    // Keys come from the file: objects without a prototype, so that '__proto__' is a key like any other.
    const spec = dict<Record<string, TensorSpec | number>>();
    for (const [i, entry] of Object.entries(scalars)) {
      if (!isRecord(entry)) fail(`metadata 'optimizer': scalars.${i}: expected {name: number}, got ${JSON.stringify(entry)}`);
      for (const [k, v] of Object.entries(entry as object)) {
        if (typeof v !== 'number') fail(`metadata 'optimizer': scalars.${i}.${k}: expected a number, got ${JSON.stringify(v)}`);
        (spec[i] ??= dict())[k] = v as number;
      }
    }
    for (const [key, t] of optTensors) {
      const k = /^(\d+)\.([^.]+)$/.exec(key);
      if (!k) return fail(`tensor '${OPT_PREFIX}${key}': expected a name ${OPT_PREFIX}<parameter index>.<state name>`);
      const entry = (spec[k[1]!] ??= dict());
      if (entry[k[2]!] !== undefined) fail(`tensor '${OPT_PREFIX}${key}': state ${k[1]}.${k[2]} is also a scalar in metadata 'optimizer'`);
      entry[k[2]!] = { shape: t.shape, dtype: engineDType(t) };
      optUploads.push([k[1]!, k[2]!, t]);
    }
    try {
      opts.optimizer.checkStateDict({ state: spec, param_groups });
    } catch (e) {
      fail(`optimizer state: ${(e as Error).message}`);
    }
    optScalars = dict();
    for (const [i, entry] of Object.entries(spec)) {
      const own = (optScalars[Number(i)] = dict());
      for (const [k, v] of Object.entries(entry)) if (typeof v === 'number') own[k] = v;
    }
    optGroups = param_groups;
  }

  let rng: GeneratorState | null = null;
  if (opts.generator) {
    if (file.metadata.rng === undefined) fail('no RNG state in this checkpoint');
    const r = json('rng');
    const problem = generatorStateProblem(r);
    if (problem) fail(`metadata 'rng': ${problem}`);
    rng = r as GeneratorState;
  }

  // Everything is checked: upload and load. The optimizer goes first because it allocates (its copies of the
  // state); the model's in-place copies and the generator's state cannot fail any more.
  const uploaded = new Map<string, Tensor>();
  const made: Tensor[] = [];
  try {
    for (const [k, t] of state) uploaded.set(k, toTensor(t, model.device));
    if (optScalars) {
      for (const [i, k, t] of optUploads) {
        const tt = toTensor(t, model.device);
        made.push(tt);
        optScalars[Number(i)]![k] = tt;
      }
      opts.optimizer!.loadStateDict({ state: optScalars, param_groups: optGroups });
    }
    model.loadStateDict(uploaded, { strict: opts.strict ?? true, strictBuffers: opts.strictBuffers });
  } finally {
    for (const t of [...uploaded.values(), ...made]) t.dispose();
  }
  if (rng) opts.generator!.setState(rng);
  return meta as CheckpointMeta;
}
