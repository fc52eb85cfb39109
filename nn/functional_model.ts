/**
 * A model on tensors it does not hold: a Module view of `base` whose forward is base.forward with some (or
 * all) of its parameters and buffers replaced by the given tensors (Module.functionalCall), so that
 * attacks, BN-mode switches (withAttackMode), evaluation and saveCheckpoint see a soup's assembled weights
 * exactly as they would see a module's own. Gradients flow into the substitutes (a learned soup's
 * coefficients get theirs this way); nothing is copied into `base`.
 *
 * The view owns nothing: dispose() leaves base and substitutes alone, and loading into it is refused (its
 * tensors belong to someone else). Train/eval switches reach base's modules: they are the view's modules.
 */
import { Module, type LoadStateDictOptions } from './module.js';
import type { Tensor } from '../engine/tensor.js';
import { fmt } from '../engine/shape.js';
import { tensorPaths } from '../engine/tree.js';

export class FunctionalModel extends Module {
  private subs: Map<string, Tensor>;

  /** `substitute`: a tensor tree keyed by base's state_dict names (see Module.functionalCall). */
  constructor(readonly base: Module, substitute: unknown) {
    super();
    this.subs = checkedSubstitutes(base, substitute, 'FunctionalModel');
    this.training = base.training;
  }

  forward(x: Tensor): Tensor {
    return this.base.functionalCall(this.subs, () => this.base.forward(x));
  }

  /** A further substitution on top of this view's own (the later one wins where both name a tensor). */
  override functionalCall<T>(substitute: unknown, fn: () => T): T {
    const outer = this.subs;
    this.subs = new Map([...outer, ...checkedSubstitutes(this.base, substitute, 'functionalCall')]);
    try {
      return fn();
    } finally {
      this.subs = outer;
    }
  }

  /** The view itself, then base's modules under the same names. */
  override namedModules(prefix = ''): [string, Module][] {
    return [[prefix, this], ...this.base.namedModules(prefix)];
  }

  override namedParameters(prefix = ''): [string, Tensor][] {
    return this.viewed(this.base.namedParameters(), prefix);
  }

  override namedBuffers(prefix = ''): [string, Tensor][] {
    return this.viewed(this.base.namedBuffers(), prefix);
  }

  /** base's state_dict with the substitutes in place: what saveCheckpoint writes. */
  override stateDict(): [string, Tensor][] {
    return this.viewed(this.base.stateDict(), '');
  }

  override loadStateDict(_state: Map<string, Tensor>, _opts?: LoadStateDictOptions): void {
    throw new Error('FunctionalModel.loadStateDict: the view holds no tensors of its own; load into its base module, or build a new view on the new tensors');
  }

  /** Nothing: base and the substitutes belong to the caller. */
  override dispose(): void {}

  private viewed(entries: [string, Tensor][], prefix: string): [string, Tensor][] {
    return entries.map(([n, t]) => [prefix ? `${prefix}.${n}` : n, this.subs.get(n) ?? t]);
  }
}

/** The substitutes by name, each checked against base's tensor of that name (name, shape, dtype, liveness). */
function checkedSubstitutes(base: Module, substitute: unknown, what: string): Map<string, Tensor> {
  const own = new Map(base.stateDict());
  const subs = new Map<string, Tensor>();
  for (const [name, t] of tensorPaths(substitute)) {
    const cur = own.get(name);
    if (!cur) throw new Error(`${what}: ${base.constructor.name} has no parameter or buffer named '${name}'`);
    if (cur.shape.join() !== t.shape.join()) throw new Error(`${what}: '${name}' has shape ${fmt(cur.shape)}, the substitute ${fmt(t.shape)}`);
    if (cur.dtype !== t.dtype) throw new Error(`${what}: '${name}' is ${cur.dtype}, the substitute ${t.dtype}`);
    t.assertLive(`${what} ('${name}')`);
    subs.set(name, t);
  }
  return subs;
}

/** base as a module on substituted tensors (the view form of functionalCall(model, params, x)). */
export function functionalModel(base: Module, substitute: unknown): FunctionalModel {
  return new FunctionalModel(base, substitute);
}
