/**
 * Checkpoints in safetensors: the model's state_dict under PyTorch's names (num_batches_tracked as I64, as
 * PyTorch stores it), optionally the optimizer state (tensors under `optimizer.state.<i>.<name>`) and the
 * RNG state, with metadata (architecture, activation, normalisation, training config, epoch, metrics) as
 * JSON strings. Written to a temporary file and renamed, so a crash never corrupts the previous checkpoint.
 * Loading checks every name, shape and dtype and names what differs.
 */
import { readSafetensors, writeSafetensors, SafetensorsError, type StTensor } from './safetensors.js';
import { tensor } from '../engine/create.js';
import type { Module } from './module.js';
import type { Optimizer, OptimizerStateDict } from '../engine/optim/index.js';
import type { Generator, GeneratorState } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import type { Device } from '../engine/device.js';

export interface CheckpointMeta {
  architecture?: string;
  activation?: string;
  normalize?: { mean: number[]; std: number[] } | null;
  config?: Record<string, unknown>;
  epoch?: number;
  metrics?: Record<string, number>;
  [key: string]: unknown;
}

const OPT_PREFIX = 'optimizer.state.';

async function toStored(name: string, t: Tensor): Promise<StTensor> {
  const data = await t.read();
  if (t.dtype === 'float32') return { dtype: 'F32', shape: [...t.shape], data: data as Float32Array };
  // PyTorch keeps counters such as num_batches_tracked as int64.
  return { dtype: name.endsWith('num_batches_tracked') ? 'I64' : 'I32', shape: [...t.shape], data: Int32Array.from(data) };
}

function toTensor(t: StTensor, device: Device): Tensor {
  const isInt = t.dtype === 'I64' || t.dtype === 'I32' || t.dtype === 'U8';
  return tensor(isInt ? Int32Array.from(t.data) : Float32Array.from(t.data), t.shape, { device, dtype: isInt ? 'int32' : 'float32' });
}

export interface SaveOptions { optimizer?: Optimizer<{ lr: number }>; generator?: Generator; meta?: CheckpointMeta }

/** Saves a model (and optionally optimizer and RNG state) to `path`; reads the tensors back from the GPU. */
export async function saveCheckpoint(path: string, model: Module, opts: SaveOptions = {}): Promise<void> {
  const entries: [string, StTensor][] = [];
  for (const [name, t] of model.stateDict()) entries.push([name, await toStored(name, t)]);
  const metadata: Record<string, string> = { format: 'pt', robustgpu: JSON.stringify(opts.meta ?? {}) };
  if (opts.optimizer) {
    const sd: OptimizerStateDict = opts.optimizer.stateDict();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [i, st] of Object.entries(sd.state)) {
      for (const [k, v] of Object.entries(st)) {
        if (typeof v === 'number') (scalars[i] ??= {})[k] = v;
        else entries.push([`${OPT_PREFIX}${i}.${k}`, await toStored(k, v)]);
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
  /**
   * Keys to drop before loading, by prefix: e.g. 'sub_block1' (the unused block of the TRADES WideResNet
   * definition that its checkpoints carry) or 'module' prefixes are handled by `renamePrefix`.
   */
  ignorePrefixes?: string[];
  /** Rename key prefixes, e.g. { 'module.': '' } for checkpoints saved from nn.DataParallel. */
  renamePrefix?: Record<string, string>;
}

/** Loads a checkpoint written by saveCheckpoint or exported from PyTorch (state_dict in safetensors). */
export function loadCheckpoint(path: string, model: Module, opts: LoadOptions = {}): CheckpointMeta {
  const file = readSafetensors(path);
  const device = model.device;
  const state = new Map<string, Tensor>();
  const optTensors = new Map<string, StTensor>();
  const drop = opts.ignorePrefixes ?? [];
  for (const [raw, t] of file.tensors) {
    if (raw.startsWith(OPT_PREFIX)) { optTensors.set(raw.slice(OPT_PREFIX.length), t); continue; }
    let name = raw;
    for (const [from, to] of Object.entries(opts.renamePrefix ?? {})) if (name.startsWith(from)) name = to + name.slice(from.length);
    if (drop.some((p) => name === p || name.startsWith(`${p}.`))) continue;
    state.set(name, toTensor(t, device));
  }
  try {
    model.loadStateDict(state, { strict: opts.strict ?? true });
  } catch (e) {
    throw new SafetensorsError(`${path}: ${(e as Error).message}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
  if (opts.optimizer) {
    if (!file.metadata.optimizer) throw new SafetensorsError(`${path}: no optimizer state in this checkpoint`);
    const meta = JSON.parse(file.metadata.optimizer) as { param_groups: OptimizerStateDict['param_groups']; scalars: Record<string, Record<string, number>> };
    const st: OptimizerStateDict['state'] = {};
    for (const [i, s] of Object.entries(meta.scalars)) st[Number(i)] = { ...s };
    const made: Tensor[] = [];
    for (const [key, t] of optTensors) {
      const dot = key.indexOf('.');
      const tt = toTensor(t, device);
      made.push(tt);
      (st[Number(key.slice(0, dot))] ??= {})[key.slice(dot + 1)] = tt;
    }
    try {
      opts.optimizer.loadStateDict({ state: st, param_groups: meta.param_groups });
    } finally {
      for (const t of made) t.dispose();
    }
  }
  if (opts.generator) {
    if (!file.metadata.rng) throw new SafetensorsError(`${path}: no RNG state in this checkpoint`);
    opts.generator.setState(JSON.parse(file.metadata.rng) as GeneratorState);
  }
  return file.metadata.robustgpu ? (JSON.parse(file.metadata.robustgpu) as CheckpointMeta) : {};
}
