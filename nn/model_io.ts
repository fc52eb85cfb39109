/**
 * A model rebuilt from a checkpoint's own description: the architecture, activation, normalisation and
 * class count that saveCheckpoint records in its metadata choose the constructor, then the weights load
 * strictly. `eval`, `train --init` and the soups start from checkpoints this way.
 */
import { readSafetensors } from './safetensors.js';
import { CheckpointError, loadCheckpoint, type CheckpointMeta, type LoadOptions } from './checkpoint.js';
import { buildModel } from './models/index.js';
import type { ModelOptions } from './models/common.js';
import type { Module } from './module.js';

/** The metadata a checkpoint carries ({} for a plain PyTorch state dict). */
export function readCheckpointMeta(path: string): CheckpointMeta {
  const raw = readSafetensors(path).metadata.robustgpu;
  if (raw === undefined) return {};
  try {
    const m = JSON.parse(raw) as unknown;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error('not a JSON object');
    return m as CheckpointMeta;
  } catch (e) {
    throw new CheckpointError(`${path}: metadata 'robustgpu': ${(e as Error).message}`);
  }
}

export interface ModelSpec { architecture: string; activation?: string; numClasses?: number; inChannels?: number; normalize?: ModelOptions['normalize'] }

/** What the metadata says the model is, with `overrides` (e.g. --model for a PyTorch file without metadata) on top. */
export function modelSpecOf(path: string, meta: CheckpointMeta, overrides: Partial<ModelSpec> = {}): ModelSpec {
  const architecture = overrides.architecture ?? meta.architecture;
  if (!architecture) throw new CheckpointError(`${path}: the checkpoint does not say its architecture (no metadata 'robustgpu.architecture'); name it (--model)`);
  const num = (k: string) => (typeof meta[k] === 'number' ? (meta[k] as number) : undefined);
  return {
    architecture,
    activation: overrides.activation ?? meta.activation,
    numClasses: overrides.numClasses ?? num('numClasses'),
    inChannels: overrides.inChannels ?? num('inChannels'),
    normalize: overrides.normalize !== undefined ? overrides.normalize : meta.normalize ?? null,
  };
}

/** Builds the checkpoint's model and loads its weights (strict unless told otherwise). */
export function modelFromCheckpoint(path: string, opts: { overrides?: Partial<ModelSpec>; load?: LoadOptions; model?: Omit<ModelOptions, keyof ModelSpec> } = {}): { model: Module; meta: CheckpointMeta; spec: ModelSpec } {
  const meta = readCheckpointMeta(path);
  const spec = modelSpecOf(path, meta, opts.overrides);
  const model = buildModel(spec.architecture, { ...opts.model, activation: spec.activation, numClasses: spec.numClasses, normalize: spec.normalize, ...(spec.inChannels ? { inChannels: spec.inChannels } : {}) });
  try {
    loadCheckpoint(path, model, opts.load);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, meta, spec };
}
