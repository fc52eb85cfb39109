/**
 * Memory scopes (tfjs `tidy`): every tensor created inside `scope(fn)` is disposed when fn returns, except
 * the tensors in its result and those passed to `keep`. The result is walked as a tensor tree
 * (engine/tree.ts: arrays, plain objects, Maps, Sets and TensorContainer instances, at any depth); a result
 * hiding one of the scope's tensors where the walker cannot see it is an error, not a silent disposal.
 * Scopes are synchronous on purpose: an awaited readback belongs outside them (tfjs #5468), so an async fn
 * is refused.
 */
import type { Tensor } from './tensor.js';
import { forEachTensor } from './tree.js';

const stack: Set<Tensor>[] = [];

/** Internal (Tensor's constructor): the innermost open scope owns `t`. */
export function track(t: Tensor): void {
  stack[stack.length - 1]?.add(t);
}

/** Takes every tensor of `tree` out of every open scope: they live until disposed explicitly. */
export function keep<T>(tree: T): T {
  forEachTensor(tree, (t) => { for (const s of stack) s.delete(t); }, { root: 'keep' });
  return tree;
}

function disposeAll(ts: Set<Tensor>): void {
  for (const t of ts) t.dispose();
}

export function scope<T>(fn: () => T): T {
  const mine = new Set<Tensor>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    disposeAll(mine);
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    disposeAll(mine);
    throw new TypeError('scope(fn): fn returned a Promise; scopes are synchronous (await outside the scope)');
  }
  const escaping = new Set<Tensor>();
  try {
    forEachTensor(result, (t) => { if (mine.has(t)) escaping.add(t); }, { opaqueHolds: (t) => mine.has(t), root: 'scope result' });
  } catch (e) {
    disposeAll(mine);
    throw e;
  }
  for (const t of mine) {
    if (escaping.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

export function openScopes(): number {
  return stack.length;
}
