/**
 * The op whose forward or backward is recording work right now. Errors found later, on the GPU (a failed
 * submission, an out-of-range label) or in a helper that only sees bytes (a tensor too large for the device),
 * name it instead of a kernel the user never called.
 */
let current: string | null = null;

export function currentOp(): string | null {
  return current;
}

/** Runs fn with `op` as the current op (nested ops name the innermost). */
export function withOp<T>(op: string, fn: () => T): T {
  const outer = current;
  current = op;
  try {
    return fn();
  } finally {
    current = outer;
  }
}
