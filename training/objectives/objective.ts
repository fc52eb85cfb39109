/**
 * A training objective: what one step minimises on a batch, the attack included. Objectives differ in
 * their loss and their inner attack, never in the loop around them (training/loop.ts): the loop puts the
 * model in train mode, calls `loss`, differentiates, checks health, steps the optimizer. Every random draw
 * comes from the step's generator, so a resumed run repeats the same attacks.
 */
import type { Generator } from '../../engine/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import type { Batch } from '../steps.js';

export interface StepContext {
  /** The run's attack generator (its state is part of the run's checkpoint). */
  generator: Generator;
  /** 0-based step of the run and epoch. */
  step: number;
  epoch: number;
  /**
   * Run the attack's passes, and the weight update's forward, through these (SAT's backward-only smoothing
   * swaps relu for relu_smoothgrad in the chosen passes: training/smoothing.ts). The op a forward records
   * keeps its backward, so the swap only needs to cover the forward.
   */
  inAttack<T>(fn: () => T): T;
  inUpdate<T>(fn: () => T): T;
}

export interface ObjectiveLoss {
  /** The scalar to minimise (requires grad). */
  loss: Tensor;
  /** Logits whose accuracy the progress line reports (the clean ones where the objective computes them). */
  logits: Tensor;
}

export interface Objective {
  readonly name: string;
  /** Records one step's loss; leaves the model in train mode. */
  loss(model: Module, batch: Batch, ctx: StepContext): ObjectiveLoss;
  /** The settings, for the run's resolved configuration and report. */
  settings(): Record<string, unknown>;
  /** State that must survive a resume (plain numbers, read from the GPU when a checkpoint is written), and its restore. */
  state?(): Promise<Record<string, number>>;
  loadState?(s: Record<string, number>): void;
}
