/**
 * Mixed precision (AMP's autocast, for the ops that dominate a step): inside withPrecision('f16-mixed', f),
 * matmul and conv2d cast their operands to float16 storage (engine/ops/cast.ts), run the f16-operand
 * kernels with f32 accumulation (kernels/half_inputs.ts), and return f32; their backward casts the incoming
 * gradient to f16 the same way and reads the f16 copies it saved (half the bytes of the f32 inputs). Every
 * other op (batch norm, activations, losses, reductions, the optimizer and its master weights) stays f32.
 * Gradients that underflow f16 are what loss scaling is for (engine/optim/loss_scaler.ts).
 */
import { getDefaultDevice, type Device } from './device.js';
import type { Storage, Tensor } from './tensor.js';

export const PRECISIONS = ['float32', 'f16-mixed'] as const;
export type Precision = (typeof PRECISIONS)[number];

let current: Precision = 'float32';

/**
 * The f16 copies of leaf tensors (the weights) made during one withPrecision call, by storage, with the
 * storage version they copy: a TRADES step reads every weight in each of its attack iterations and in the
 * update, and casts it once. An in-place write (the optimizer's update) bumps the version and forces a new
 * copy. Disposed when the call ends (the tape keeps what it saved).
 */
let leafCopies: Map<Storage, { version: number; copy: Tensor }> | null = null;

/** The cache of f16 leaf copies of the withPrecision call in progress (null outside one). */
export function halfLeafCache(): Map<Storage, { version: number; copy: Tensor }> | null {
  return leafCopies;
}

/** The precision ops record at now. */
export function currentPrecision(): Precision {
  return current;
}

/** Whether the matmul and convolution now in recording take f16 operands. */
export function halfOperands(): boolean {
  return current === 'f16-mixed';
}

function checked(precision: Precision, device: Device): Precision {
  if (!(PRECISIONS as readonly string[]).includes(precision)) throw new RangeError(`precision: expected one of ${PRECISIONS.join(', ')}, got '${precision}'`);
  if (precision === 'f16-mixed' && !device.hasF16) {
    throw new Error(`precision f16-mixed needs the WebGPU feature 'shader-f16', which the adapter ${device.info.description || device.info.device} does not offer; use float32`);
  }
  return precision;
}

/**
 * Sets the precision of everything recorded from now on, for asynchronous work such as a whole evaluation
 * (restore it in a finally); returns the previous one. withPrecision is the scoped form for a step.
 */
export function setPrecision(precision: Precision, device: Device = getDefaultDevice()): Precision {
  const prev = current;
  current = checked(precision, device);
  return prev;
}

/**
 * Runs `fn` (synchronous: a step records its forward and backward in one go) with ops recording at
 * `precision`; f16-mixed needs the device's 'shader-f16' and says so otherwise.
 */
export function withPrecision<T>(precision: Precision, fn: () => T, device: Device = getDefaultDevice()): T {
  const prev = current;
  current = checked(precision, device);
  const outer = leafCopies;
  leafCopies ??= new Map();
  try {
    const out = fn();
    if (out instanceof Promise) throw new TypeError('withPrecision: fn must be synchronous (record the step, then await its results outside)');
    return out;
  } finally {
    current = prev;
    if (!outer) {
      for (const { copy } of leafCopies.values()) copy.dispose();
      leafCopies = null;
    }
  }
}
