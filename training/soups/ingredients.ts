/**
 * Soup ingredients: K models of one architecture whose tensors a soup mixes, each kept whole on the GPU as a
 * module, frozen (requiresGrad false: a learned soup trains only its coefficients, so weighted_sum skips the
 * ingredients' gradients) and in eval mode. The first ingredient's module is the template a soup runs on
 * (FunctionalModel substitutes every one of its tensors), so it is never loaded into.
 *
 * Checkpoints are compared with the first one before any is uploaded: the architecture metadata
 * (architecture, activation, classes, input channels, normalisation), then every tensor's name, shape and
 * dtype as stored. The error names the first difference: the file, the key and both values.
 */
import { readSafetensors } from '../../nn/safetensors.js';
import { OPT_PREFIX, type CheckpointMeta } from '../../nn/checkpoint.js';
import { modelFromCheckpoint, modelSpecOf, readCheckpointMeta, type ModelSpec } from '../../nn/model_io.js';
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmt } from '../../engine/shape.js';

/** Ingredients that cannot be souped together (or a soup refused by its checks). */
export class SoupError extends Error {}

interface Spec { shape: readonly number[]; dtype: string }

export class Ingredients {
  /** state_dict names in the template's order. */
  readonly names: readonly string[];
  private readonly byName: Map<string, Tensor[]>;

  /** Use loadIngredients or ingredientsFromModels (they check that the models match). */
  constructor(readonly models: readonly Module[], readonly labels: readonly string[], readonly meta: CheckpointMeta) {
    if (models.length === 0) throw new SoupError('soup ingredients: none given');
    this.names = models[0]!.stateDict().map(([k]) => k);
    this.byName = new Map(this.names.map((n) => [n, []]));
    for (const m of models) {
      m.requiresGrad(false).eval();
      for (const [k, t] of m.stateDict()) this.byName.get(k)!.push(t);
    }
  }

  get K(): number { return this.models.length; }

  /** The model a soup runs on: the first ingredient's module. */
  get template(): Module { return this.models[0]!; }

  /** The K ingredients' tensors of one state_dict entry. */
  tensors(name: string): readonly Tensor[] {
    const ts = this.byName.get(name);
    if (!ts) throw new SoupError(`soup ingredients: no tensor named '${name}'`);
    return ts;
  }

  dispose(): void {
    for (const m of this.models) m.dispose();
  }
}

const SPEC_FIELDS = ['architecture', 'activation', 'numClasses', 'inChannels', 'normalize'] as const;

function tensorSpecs(path: string): Map<string, Spec> {
  const out = new Map<string, Spec>();
  for (const [k, t] of readSafetensors(path).tensors) if (!k.startsWith(OPT_PREFIX)) out.set(k, { shape: t.shape, dtype: t.dtype });
  return out;
}

/** The first way `b` (in file bPath) differs from `a` (in aPath), or null. */
export function firstDifference(a: ReadonlyMap<string, Spec>, aPath: string, b: ReadonlyMap<string, Spec>, bPath: string): string | null {
  for (const [k, sa] of a) {
    const sb = b.get(k);
    if (!sb) return `'${k}' is in ${aPath} but not in ${bPath}`;
    if (sa.shape.join() !== sb.shape.join()) return `'${k}' has shape ${fmt(sb.shape)} in ${bPath}, ${fmt(sa.shape)} in ${aPath}`;
    if (sa.dtype !== sb.dtype) return `'${k}' is ${sb.dtype} in ${bPath}, ${sa.dtype} in ${aPath}`;
  }
  for (const k of b.keys()) if (!a.has(k)) return `'${k}' is in ${bPath} but not in ${aPath}`;
  return null;
}

function specDifference(a: ModelSpec, aPath: string, b: ModelSpec, bPath: string): string | null {
  for (const f of SPEC_FIELDS) {
    const [va, vb] = [JSON.stringify(a[f] ?? null), JSON.stringify(b[f] ?? null)];
    if (va !== vb) return `the checkpoint metadata says ${f} ${vb} in ${bPath}, ${va} in ${aPath}`;
  }
  return null;
}

function refuse(diff: string): never {
  throw new SoupError(`soup ingredients differ: ${diff} (every ingredient must be one architecture with the same tensors)`);
}

/**
 * Loads K checkpoints of one architecture (the first one's metadata builds the models, as modelFromCheckpoint;
 * `overrides` as there, for files without metadata). All are checked against the first before any is loaded.
 */
export function loadIngredients(paths: readonly string[], opts: { overrides?: Partial<ModelSpec> } = {}): Ingredients {
  if (paths.length === 0) throw new SoupError('loadIngredients: no checkpoints given');
  const first = paths[0]!;
  const spec0 = modelSpecOf(first, readCheckpointMeta(first), opts.overrides);
  const tensors0 = tensorSpecs(first);
  for (const p of paths.slice(1)) {
    const diff = specDifference(spec0, first, modelSpecOf(p, readCheckpointMeta(p), opts.overrides), p) ?? firstDifference(tensors0, first, tensorSpecs(p), p);
    if (diff) refuse(diff);
  }
  const models: Module[] = [];
  let meta: CheckpointMeta = {};
  try {
    for (const p of paths) {
      const r = modelFromCheckpoint(p, { overrides: opts.overrides });
      models.push(r.model);
      if (models.length === 1) meta = { ...r.spec };
    }
  } catch (e) {
    for (const m of models) m.dispose();
    throw e;
  }
  return new Ingredients(models, [...paths], meta);
}

/**
 * Ingredients from models in memory (e.g. fine-tunes just trained); they become frozen and in eval mode.
 * `meta` describes the architecture for a saved soup (what modelFromCheckpoint needs to rebuild it).
 */
export function ingredientsFromModels(models: readonly Module[], opts: { labels?: readonly string[]; meta?: CheckpointMeta } = {}): Ingredients {
  if (models.length === 0) throw new SoupError('ingredientsFromModels: no models given');
  const labels = opts.labels ?? models.map((_, k) => `model ${k}`);
  if (labels.length !== models.length) throw new SoupError(`ingredientsFromModels: ${labels.length} labels for ${models.length} models`);
  if (new Set(models).size !== models.length) throw new SoupError('ingredientsFromModels: a model is given twice (each ingredient must own its tensors)');
  const specs = (m: Module) => new Map<string, Spec>(m.stateDict().map(([k, t]) => [k, { shape: t.shape, dtype: t.dtype }]));
  const s0 = specs(models[0]!);
  models.slice(1).forEach((m, i) => {
    const name0 = models[0]!.constructor.name;
    if (m.constructor.name !== name0) refuse(`${labels[i + 1]} is a ${m.constructor.name}, ${labels[0]} a ${name0}`);
    const diff = firstDifference(s0, labels[0]!, specs(m), labels[i + 1]!);
    if (diff) refuse(diff);
  });
  return new Ingredients(models, labels, opts.meta ?? {});
}
