/**
 * SAT's backward-only smoothing (METHODS §6.3): the model keeps relu in its forward, and the chosen passes
 * (the attack's, the weight update's, or both) run relu_smoothgrad instead, whose forward is relu and whose
 * backward is a smooth gradient. The swap covers a pass's forward; the op it records keeps its backward.
 */
import type { Module } from '../nn/module.js';
import { swapActivations } from '../nn/layers/activation.js';

export const SMOOTH_PASSES = ['none', 'attack', 'update', 'both'] as const;
export type SmoothPasses = (typeof SMOOTH_PASSES)[number];

/** The two pass wrappers of a step (StepContext.inAttack / inUpdate) for the chosen passes. */
export function smoothingPasses(model: Module, passes: SmoothPasses, alpha = 10): { inAttack<T>(fn: () => T): T; inUpdate<T>(fn: () => T): T } {
  const through = <T>(on: boolean, fn: () => T): T => {
    if (!on) return fn();
    const restore = swapActivations(model, 'relu', { name: 'relu_smoothgrad', arg: alpha });
    try {
      return fn();
    } finally {
      restore();
    }
  };
  return {
    inAttack: (fn) => through(passes === 'attack' || passes === 'both', fn),
    inUpdate: (fn) => through(passes === 'update' || passes === 'both', fn),
  };
}
