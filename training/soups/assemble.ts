/**
 * The souped state dict: theta = sum_k alpha_k theta_k for every float tensor, one weighted_sum dispatch per
 * tensor (for K <= 6; the op chains passes beyond), differentiable in the coefficients. Coefficients are a
 * [K] tensor (one mixture for the whole model) or [L, K] (one row per layer, soupLayers: a module's
 * parameters and buffers share its row, e.g. a conv's weight and bias, a BatchNorm's weight, bias and
 * running statistics).
 *
 * BatchNorm's running statistics are mixed like the parameters but take no gradient (batch_norm2d treats them
 * as data, as PyTorch does), so they are assembled outside autodiff, from `bufferCoefficients` when given
 * (a learned soup passes its coefficients detached). Integer buffers (num_batches_tracked) are copies of the
 * first ingredient's: a copy, so that a train-mode pass over the soup never counts into an ingredient.
 * A zero coefficient drops its term exactly (weighted_sum), so one-hot coefficients give an ingredient
 * bit for bit.
 */
import * as o from '../../engine/ops/index.js';
import { tensor } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmt } from '../../engine/shape.js';
import { functionalModel, type FunctionalModel } from '../../nn/functional_model.js';
import { SoupError, type Ingredients } from './ingredients.js';

/** Per-layer rows: each tensor's module path (its name without the last part) is a layer. */
export interface SoupLayers {
  /** The module path of each row ('' for the root module's own tensors). */
  labels: string[];
  /** Row of each state_dict name. */
  rowOf: Map<string, number>;
}

export function soupLayers(ing: Ingredients): SoupLayers {
  const labels: string[] = [];
  const rowOf = new Map<string, number>();
  for (const n of ing.names) {
    const layer = n.includes('.') ? n.slice(0, n.lastIndexOf('.')) : '';
    let row = labels.indexOf(layer);
    if (row < 0) row = labels.push(layer) - 1;
    rowOf.set(n, row);
  }
  return { labels, rowOf };
}

/** Fixed coefficients as numbers: [K] per model or [L][K] per layer. */
export type CoefficientValues = number[] | number[][];

function checkCoefficientShape(ing: Ingredients, shape: readonly number[], layers: SoupLayers | null, what: string): void {
  const K = ing.K;
  const ok = shape.length === 1 ? shape[0] === K : shape.length === 2 && shape[1] === K && shape[0] === layers!.labels.length;
  if (!ok) throw new SoupError(`${what}: coefficients of shape ${fmt(shape)}, expected [${K}] (per model) or [${layers!.labels.length}, ${K}] (per layer) for ${K} ingredients`);
}

/** The [K] coefficient vector of each row: the vector itself per model, slices of the matrix per layer. */
function rows(a: Tensor, layers: SoupLayers): (row: number) => Tensor {
  if (a.rank === 1) return () => a;
  const cache = new Map<number, Tensor>();
  return (r) => {
    let v = cache.get(r);
    if (!v) cache.set(r, (v = o.reshape(o.slice(a, 0, r, r + 1), [a.shape[1]!])));
    return v;
  };
}

/**
 * The souped tensors, keyed by state_dict name (in the template's order). Parameters carry the coefficients'
 * gradient when `a` requires one. The tensors belong to the caller's scope (dispose them outside one).
 */
export function assembleSoup(ing: Ingredients, a: Tensor, opts: { bufferCoefficients?: Tensor } = {}): Map<string, Tensor> {
  const layers = soupLayers(ing);
  checkCoefficientShape(ing, a.shape, layers, 'assembleSoup');
  const bufA = opts.bufferCoefficients ?? a;
  checkCoefficientShape(ing, bufA.shape, layers, 'assembleSoup (bufferCoefficients)');
  const params = new Set(ing.template.namedParameters().map(([k]) => k));
  return scope(() => {
    const row = rows(a, layers);
    const bufRow = rows(bufA.detach(), layers);
    const out = new Map<string, Tensor>();
    for (const name of ing.names) {
      const ts = ing.tensors(name);
      const r = layers.rowOf.get(name)!;
      if (ts[0]!.dtype !== 'float32') out.set(name, ts[0]!.clone());
      else if (params.has(name)) out.set(name, o.weightedSum(row(r), ts));
      else out.set(name, noGrad(() => o.weightedSum(bufRow(r), ts)));
    }
    return out;
  });
}

/** Coefficients given as numbers (uploaded once), assembled without autodiff. */
export function soupOf(ing: Ingredients, coefficients: CoefficientValues): Map<string, Tensor> {
  const nested = Array.isArray(coefficients[0]);
  const shape = nested ? [coefficients.length, (coefficients[0] as number[]).length] : [coefficients.length];
  checkCoefficientShape(ing, shape, soupLayers(ing), 'soupOf');
  const flat = (nested ? (coefficients as number[][]).flat() : (coefficients as number[]));
  const bad = flat.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) throw new SoupError(`soupOf: coefficient ${bad} is ${String(flat[bad])}, expected a finite number`);
  return noGrad(() => scope(() => assembleSoup(ing, tensor(Float32Array.from(flat), shape, { device: ing.template.device }))));
}

/** The soup as a model: the template run on the souped tensors (attack it, evaluate it, save it). */
export function soupModel(ing: Ingredients, soup: Map<string, Tensor>): FunctionalModel {
  return functionalModel(ing.template, soup);
}

/** Coefficient vectors that pick one ingredient, or mix some uniformly (greedy and uniform soups). */
export function uniformOver(K: number, members: readonly number[]): number[] {
  const c = new Array<number>(K).fill(0);
  for (const k of members) c[k] = 1 / members.length;
  return c;
}

/** Disposes every tensor of a souped state dict. */
export function disposeSoup(soup: Map<string, Tensor>): void {
  for (const t of soup.values()) t.dispose();
}
