/**
 * Which BatchNorm behaviour an attack runs with (METHODS §10.1): 'eval' (running statistics, the TRADES/SAT
 * convention, the default) or 'train_frozen' (batch statistics, running statistics never updated, MadryLab-like
 * without its side effect). Attacks never update running statistics; dropout is off in both.
 */
import { BatchNorm2d } from '../nn/layers/batch_norm.js';
import type { Module } from '../nn/module.js';

export type AttackBnMode = 'eval' | 'train_frozen';

export function withAttackMode<T>(model: Module, mode: AttackBnMode, fn: () => T): T {
  const saved = model.namedModules().map(([, m]) => [m, m.training, m instanceof BatchNorm2d ? m.freezeStats : false] as const);
  try {
    model.eval();
    if (mode === 'train_frozen') {
      for (const [, m] of model.namedModules()) {
        if (m instanceof BatchNorm2d) { m.training = true; m.freezeStats = true; }
      }
    }
    return fn();
  } finally {
    for (const [m, training, frozen] of saved) {
      m.training = training;
      if (m instanceof BatchNorm2d) m.freezeStats = frozen;
    }
  }
}
