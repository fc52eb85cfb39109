/**
 * Which BatchNorm behaviour an attack runs with (METHODS §10.1): 'eval' (running statistics, the TRADES/SAT
 * convention, the default) or 'train_frozen' (batch statistics, running statistics never updated, MadryLab-like
 * without its side effect). Attacks never update running statistics; dropout is off in both.
 */
import { BatchNorm2d } from '../nn/layers/batch_norm.js';
import type { Module } from '../nn/module.js';

export type AttackBnMode = 'eval' | 'train_frozen';

/** Puts the model into the attack mode; returns the function that restores every module's previous state. */
function enterAttackMode(model: Module, mode: AttackBnMode): () => void {
  const saved = model.namedModules().map(([, m]) => [m, m.training, m instanceof BatchNorm2d ? m.freezeStats : false] as const);
  model.eval();
  if (mode === 'train_frozen') {
    for (const [, m] of model.namedModules()) {
      if (m instanceof BatchNorm2d) { m.training = true; m.freezeStats = true; }
    }
  }
  return () => {
    for (const [m, training, frozen] of saved) {
      m.training = training;
      if (m instanceof BatchNorm2d) m.freezeStats = frozen;
    }
  };
}

export function withAttackMode<T>(model: Module, mode: AttackBnMode, fn: () => T): T {
  const restore = enterAttackMode(model, mode);
  try {
    const r = fn();
    if (r instanceof Promise) throw new TypeError('withAttackMode: fn returned a Promise; use withAttackModeAsync');
    return r;
  } finally {
    restore();
  }
}

/** The same for an attack that awaits readbacks (AutoAttack's counts): the mode holds until it settles. */
export async function withAttackModeAsync<T>(model: Module, mode: AttackBnMode, fn: () => Promise<T>): Promise<T> {
  const restore = enterAttackMode(model, mode);
  try {
    return await fn();
  } finally {
    restore();
  }
}
