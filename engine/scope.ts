/**
 * Memory scopes (tfjs `tidy`): every tensor created inside `scope(fn)` is disposed when fn returns, except
 * the tensors in its result and those passed to `keep`. Scopes are synchronous on purpose: an awaited
 * readback belongs outside them (tfjs #5468), so an async fn is refused.
 */
export interface Disposable { dispose(): void; readonly disposed: boolean }

const stack: Set<Disposable>[] = [];

export function track(t: Disposable): void {
  stack[stack.length - 1]?.add(t);
}

/** Takes `t` out of every open scope: it lives until disposed explicitly. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (typeof (value as Disposable).dispose === 'function' && 'disposed' in (value as object)) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, depth + 1);
  else if (value.constructor === Object || value instanceof Map) {
    for (const v of value instanceof Map ? value.values() : Object.values(value)) collect(v, out, depth + 1);
  }
}

export function scope<T>(fn: () => T): T {
  const mine = new Set<Disposable>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of mine) t.dispose();
    throw new TypeError('scope(fn): fn returned a Promise; scopes are synchronous (await outside the scope)');
  }
  const escaping = new Set<Disposable>();
  collect(result, escaping);
  for (const t of mine) {
    if (escaping.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

export function openScopes(): number {
  return stack.length;
}
