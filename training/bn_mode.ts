/**
 * Which BatchNorm behaviour an attack runs with (METHODS §10.1): 'eval' (running statistics, the TRADES/SAT
 * convention, the default) or 'train_frozen' (batch statistics, running statistics never updated, MadryLab-like
 * without its side effect). Attacks never update running statistics; dropout is off in both.
 */
import { BatchNorm2d } from '../nn/layers/batch_norm.js';
import type { Module } from '../nn/module.js';

export type AttackBnMode = 'eval' | 'train_frozen';

/** Puts the model in the attack mode; returns the function that restores every module's previous mode. */
function enterAttackMode(model: Module, mode: AttackBnMode): () => void {
  const saved = model.namedModules().map(([, m]) => [m, m.training, m instanceof BatchNorm2d ? m.freezeStats : false] as const);
  const restore = () => {
    for (const [m, training, frozen] of saved) {
      m.training = training;
      if (m instanceof BatchNorm2d) m.freezeStats = frozen;
    }
  };
  try {
    model.eval();
    if (mode === 'train_frozen') {
      for (const [, m] of model.namedModules()) {
        if (m instanceof BatchNorm2d) { m.training = true; m.freezeStats = true; }
      }
    }
  } catch (e) {
    restore();
    throw e;
  }
  return restore;
}

export function withAttackMode<T>(model: Module, mode: AttackBnMode, fn: () => T): T {
  const restore = enterAttackMode(model, mode);
  try {
    return fn();
  } finally {
    restore();
  }
}

/** withAttackMode for an attack that awaits readbacks (Square's compactions): the mode is restored when fn settles. */
export async function withAttackModeAsync<T>(model: Module, mode: AttackBnMode, fn: () => Promise<T>): Promise<T> {
  const restore = enterAttackMode(model, mode);
  try {
    return await fn();
  } finally {
    restore();
  }
}
