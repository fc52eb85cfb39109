/**
 * How the main thread waits for Dawn. While a WebGPU promise (onSubmittedWorkDone, mapAsync) is pending,
 * Dawn's Node binding polls for its completion from a `setImmediate` callback that queues the next one: the
 * event loop spins and the main thread takes a whole core. On a CPU adapter (lavapipe, 2 cores here) that core
 * is taken from the threads doing the GPU work: a conv2d that took 97-112 ms from submit to completion took 65 ms
 * when the main thread slept instead (scratch measurement, median of 9, bench/RESULTS.md).
 *
 * `setPollInterval(ms)` makes those polls timers of `ms` milliseconds instead. It wraps the global setImmediate
 * once and delays only native callbacks: Dawn's poll is a native function, while callbacks written in
 * JavaScript keep setImmediate's semantics. Other native callbacks are delayed too (a bound function, or a
 * promise's resolve passed directly, as in `new Promise(setImmediate)`): they run after `ms` instead of at
 * once, which only slows such yields. A delayed call returns a Timeout, not an Immediate, so clearImmediate is
 * wrapped too and cancels such handles with clearTimeout (Node's own would corrupt its immediate counts).
 */
let intervalMs = 0;
let installed = false;

const isNative = (fn: unknown): boolean => typeof fn === 'function' && /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn));

/** Polls for GPU completion every `ms` milliseconds (0: as fast as the event loop turns, Dawn's default). */
export function setPollInterval(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`poll interval must be a finite number of milliseconds >= 0, got ${ms}`);
  intervalMs = ms;
  if (ms === 0 || installed) return;
  installed = true;
  const original = globalThis.setImmediate;
  const originalClear = globalThis.clearImmediate;
  const delayed = new WeakSet<object>();
  const wrapped = function setImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]): NodeJS.Immediate {
    if (intervalMs > 0 && isNative(fn)) {
      const t = setTimeout(fn, intervalMs, ...args);
      delayed.add(t);
      return t as unknown as NodeJS.Immediate;
    }
    return original(fn, ...args);
  };
  // Keeps util.promisify(setImmediate) (a symbol property) and the like working.
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(original));
  globalThis.setImmediate = wrapped as typeof globalThis.setImmediate;
  globalThis.clearImmediate = function clearImmediate(handle: NodeJS.Immediate | undefined): void {
    if (handle && delayed.has(handle)) clearTimeout(handle as unknown as NodeJS.Timeout);
    else originalClear(handle);
  } as typeof globalThis.clearImmediate;
}

export function pollInterval(): number {
  return intervalMs;
}
