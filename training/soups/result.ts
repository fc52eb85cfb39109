/**
 * What every soup method returns: the coefficients it chose, the souped tensors, its held-out metrics (and
 * test metrics once measured), which BatchNorm statistics the soup uses, and its wall time, so that the
 * methods' costs can be compared. A soup saves as a normal checkpoint of the ingredients' architecture
 * (modelFromCheckpoint loads it), with the soup's description in its metadata.
 */
import type { Tensor } from '../../engine/tensor.js';
import { saveCheckpoint, type CheckpointMeta } from '../../nn/checkpoint.js';
import { BatchNorm2d } from '../../nn/layers/batch_norm.js';
import type { Module } from '../../nn/module.js';
import { disposeSoup, soupModel, type CoefficientValues } from './assemble.js';
import type { Ingredients } from './ingredients.js';
import { evaluateSoup, type SoupCriterion, type SoupEvaluation, type SoupMetrics } from './metric.js';

export type SoupMethod = 'uniform' | 'greedy' | 'grid' | 'learned' | 'fixed';

/** Which running statistics the soup's BatchNorm layers use. */
export type BnStatistics =
  | { kind: 'none' }
  | { kind: 'interpolated' }
  | { kind: 'recomputed'; images: number; data: 'clean' | 'clean+adversarial' };

export interface SoupResult {
  method: SoupMethod;
  /** [K] per model, or [L][K] per layer (rows: `layers`). */
  coefficients: CoefficientValues;
  layers?: string[];
  criterion: SoupCriterion;
  heldOut: SoupMetrics;
  test?: SoupMetrics;
  /** Wall time of the method (all its evaluations included), ms. */
  wallMs: number;
  bn: BnStatistics;
  /** The souped tensors by state_dict name (owned by the result: disposeResult). */
  state: Map<string, Tensor>;
}

export function hasBatchNorm(m: Module): boolean {
  return m.namedModules().some(([, x]) => x instanceof BatchNorm2d);
}

/** The BN statistics a freshly assembled soup of these ingredients has. */
export function assembledBn(ing: Ingredients): BnStatistics {
  return hasBatchNorm(ing.template) ? { kind: 'interpolated' } : { kind: 'none' };
}

export function describeBn(bn: BnStatistics): string {
  switch (bn.kind) {
    case 'none': return 'no BatchNorm layers';
    case 'interpolated': return 'BatchNorm running statistics interpolated with the coefficients';
    case 'recomputed': return `BatchNorm running statistics recomputed on ${bn.images} training images (${bn.data})`;
  }
}

/** The test metrics of the soup (after every choice is made on the held-out split); stored in result.test. */
export async function measureTest(ing: Ingredients, r: SoupResult, test: SoupEvaluation): Promise<SoupMetrics> {
  r.test = await evaluateSoup(soupModel(ing, r.state), test);
  return r.test;
}

/** The soup as a checkpoint of the ingredients' architecture; the metadata adds `soup` (method, coefficients, metrics, BN). */
export async function saveSoup(path: string, ing: Ingredients, r: SoupResult, meta: CheckpointMeta = {}): Promise<void> {
  const soup = {
    method: r.method, coefficients: r.coefficients, layers: r.layers, ingredients: ing.labels, criterion: r.criterion,
    heldOut: r.heldOut, test: r.test, bn: r.bn, wallMs: r.wallMs,
  };
  await saveCheckpoint(path, soupModel(ing, r.state), { meta: { ...ing.meta, ...meta, soup } });
}

export function disposeResult(r: SoupResult): void {
  disposeSoup(r.state);
}
