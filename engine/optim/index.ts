/** Optimizers (fused per-parameter kernels), learning-rate schedules and gradient clipping. */
export { Optimizer } from './optimizer.js';
export type { ParamGroup, ParamGroupOptions, OptimizerStateDict, OptimizerStateSpec, HyperValue } from './optimizer.js';
export { SGD } from './sgd.js';
export type { SgdOptions } from './sgd.js';
export { Adam, AdamW } from './adam.js';
export type { AdamOptions } from './adam.js';
export { clipGradNorm, gradNorm } from './clip.js';
export { LRScheduler, StepLR, MultiStepLR, CosineLR } from './schedules.js';
export type { SchedulableOptimizer, SchedulerState, StepLROptions, MultiStepLROptions, CosineLROptions } from './schedules.js';
export { LossScaler } from './loss_scaler.js';
export type { LossScalerOptions, LossScalerState } from './loss_scaler.js';
