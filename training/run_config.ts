/**
 * The options of a training run, declared once (training/options.ts): `robustgpu train` derives its flags,
 * --help and echoed configuration from them, a JSON config file uses their keys, and `train(config)` checks
 * a config object against them. Defaults follow METHODS §2.3, §3.3 and §9.3 for Fashion-MNIST at eps 0.1.
 */
import { withDefaults, type Options, type Values } from './options.js';
import { DATASETS } from './data/datasets.js';
import { SMOOTH_PASSES } from './smoothing.js';
import { PRECISIONS } from '../engine/precision.js';
import { EVAL_ATTACKS } from './eval.js';
import { MODEL_PATTERNS } from '../nn/models/index.js';
import { W_ATTACK_LOSSES, W_TRADES_VARIANTS } from './objectives/w_trades.js';

export const OBJECTIVES = ['standard', 'pgd-at', 'trades', 'w-trades'] as const;

export const TRAIN_OPTIONS = {
  model: { kind: 'string', default: 'smallcnn', arg: 'NAME', description: `architecture (robustgpu model --help lists them; ${MODEL_PATTERNS})` },
  activation: { kind: 'string', default: 'relu', arg: 'SPEC', description: 'activation everywhere (relu, silu, gelu, softplus:BETA, psoftplus, smoothrelu, mish, elu, ...): smooth adversarial training' },
  smoothBackward: { kind: 'choice', choices: SMOOTH_PASSES, default: 'none', description: "SAT's backward-only smoothing: relu_smoothgrad in these passes of a relu model" },
  dataset: { kind: 'choice', choices: Object.keys(DATASETS), default: 'fashion-mnist', description: 'data set' },
  data: { kind: 'string', arg: 'DIR', description: "the data set's folder (default: its usual place; CIFAR needs it)" },
  trainLimit: { kind: 'int', min: 1, arg: 'N', description: 'use only the first N training images' },
  heldOut: { kind: 'int', min: 0, default: 1000, arg: 'N', description: 'training images held out (stratified) for per-epoch evaluation and checkpoint selection' },
  epochs: { kind: 'int', min: 1, default: 10, description: 'epochs' },
  batch: { kind: 'int', min: 1, default: 128, description: 'batch size' },
  maxSteps: { kind: 'int', min: 1, description: 'stop after this many steps of the run' },
  timeLimit: { kind: 'number', above: 0, arg: 'SECONDS', description: 'stop after this many seconds (a checkpoint resumes it)' },
  objective: { kind: 'choice', choices: OBJECTIVES, default: 'trades', description: 'training objective' },
  norm: { kind: 'choice', choices: ['linf', 'l2'], default: 'linf', description: 'threat model of the training attack and the evaluation' },
  eps: { kind: 'number', above: 0, default: 0.1, description: 'attack radius in [0, 1] pixel units' },
  alpha: { kind: 'number', above: 0, description: 'training attack step (default eps / 4)' },
  attackSteps: { kind: 'int', min: 1, default: 10, description: 'training attack steps' },
  beta: { kind: 'number', min: 0, default: 6, description: 'TRADES weight of the KL term' },
  attackBn: { kind: 'choice', choices: ['eval', 'train_frozen'], default: 'eval', description: 'BatchNorm during the attack (never updating running statistics)' },
  optimizer: { kind: 'choice', choices: ['sgd', 'adam', 'adamw'], default: 'sgd', description: 'optimizer' },
  lr: { kind: 'number', above: 0, default: 0.05, description: 'learning rate' },
  momentum: { kind: 'number', min: 0, default: 0.9, description: 'SGD momentum' },
  weightDecay: { kind: 'number', min: 0, default: 5e-4, description: 'weight decay' },
  noDecayBnBias: { kind: 'bool', default: false, description: 'no weight decay on BatchNorm parameters and biases' },
  schedule: { kind: 'choice', choices: ['cosine', 'multistep', 'constant'], default: 'cosine', description: 'learning-rate schedule (cosine: per step, to 0)' },
  warmupEpochs: { kind: 'int', min: 0, default: 0, description: 'linear warmup epochs (cosine)' },
  milestones: { kind: 'list', default: [], arg: 'E1,E2', description: 'epochs where multistep multiplies the lr by 0.1' },
  clipNorm: { kind: 'number', above: 0, description: 'clip the global gradient norm' },
  augment: { kind: 'choice', choices: ['auto', 'none', 'crop-flip'], default: 'auto', description: 'random crop (pad 4) and flip on the GPU (auto: on for 32x32 colour data)' },
  precision: { kind: 'choice', choices: PRECISIONS, default: 'float32', description: 'f16-mixed: f16 operands in matmul and conv2d, f32 accumulation, master weights and BN; dynamic loss scaling' },
  lossScale: { kind: 'number', above: 0, default: 65536, description: 'f16-mixed: the initial dynamic loss scale (halved at each overflow, doubled after 2000 finite steps)' },
  onNonFinite: { kind: 'choice', choices: ['stop', 'skip'], default: 'stop', description: 'a non-finite loss or gradient stops the run (naming the step), or skips the step' },
  seed: { kind: 'int', min: 0, default: 0, description: 'seed of the initialisation, data order, splits and attacks' },
  logEvery: { kind: 'int', min: 1, default: 50, description: 'steps between metric lines' },
  evalN: { kind: 'int', min: 1, default: 500, description: 'held-out images evaluated after each epoch' },
  evalPgdSteps: { kind: 'int', min: 1, default: 10, description: 'PGD steps of the per-epoch held-out evaluation' },
  select: { kind: 'choice', choices: ['robust', 'clean', 'last'], default: 'robust', description: 'which held-out accuracy picks best.safetensors' },
  snapshotEvery: { kind: 'int', min: 1, arg: 'EPOCHS', description: 'also keep checkpoints/epoch-N.safetensors every this many epochs (soup ingredients)' },
  finalEval: { kind: 'list', choices: EVAL_ATTACKS, default: ['clean', 'pgd'], description: 'the evaluation on the test split at the end' },
  finalN: { kind: 'int', min: 1, arg: 'N', description: 'test images of the final evaluation (default: the whole split)' },
  finalPgdSteps: { kind: 'int', min: 1, default: 20, description: 'PGD steps of the final evaluation' },
  finalWN: { kind: 'int', min: 0, default: 1000, arg: 'N', description: 'W-TRADES runs: the final table adds W-PGD / greedy-W at delta eps/2 and eps on the first N test images (0: not)' },
  wVariant: { kind: 'choice', choices: W_TRADES_VARIANTS, default: 'recipe', description: 'W-TRADES (a reconstruction of Bai et al. 2025): the loss (METHODS §5.3, §5.6)' },
  wDelta: { kind: 'number', above: 0, description: 'W-TRADES: the W_2 budget (default eps)' },
  wCap: { kind: 'number', above: 0, default: 3, description: "W-TRADES: every image's l_inf radius capped at this times eps" },
  wWeight: { kind: 'number', min: 0, default: 1, description: 'W-TRADES: weight of the W term' },
  wLoss: { kind: 'choice', choices: W_ATTACK_LOSSES, default: 'redlr', description: "W-TRADES: what the W point's ascent maximises" },
  wUpsilon: { kind: 'choice', choices: ['batch', 'running'], default: 'batch', description: "W-TRADES: the direction's normaliser, per batch or a running average" },
  wUpsilonRate: { kind: 'number', above: 0, max: 1, default: 0.1, description: 'W-TRADES: update rate of the running Upsilon' },
  init: { kind: 'string', arg: 'CKPT', description: 'start from this checkpoint (fine-tuning; W-TRADES is meant to)' },
  reinitHead: { kind: 'bool', default: false, description: 'with --init: re-initialise the last linear layer' },
  jitter: { kind: 'number', min: 0, default: 0, description: "with --init: add N(0, (jitter * rms(w))^2) to every weight" },
  headOnly: { kind: 'bool', default: false, description: 'train the last linear layer only' },
} as const satisfies Options;

export type TrainConfig = Values<typeof TRAIN_OPTIONS>;

/**
 * The embedded default of `npm start` (`robustgpu start`): TRADES (beta 6, 5 attack steps) with SiLU
 * activations (smooth adversarial training) on ConvNet-16, one epoch of Fashion-MNIST at eps 0.1, then
 * clean and PGD-20 on the whole test set. Sized to finish within 10 minutes on 2 CPU cores through
 * lavapipe; README states the measured time and accuracies.
 */
export const START_DEFAULTS: Partial<TrainConfig> = {
  model: 'convnet-16', activation: 'silu', objective: 'trades', attackSteps: 5, epochs: 1, evalN: 500, logEvery: 20,
};
export const START_OPTIONS = withDefaults(TRAIN_OPTIONS, START_DEFAULTS, 'START_DEFAULTS');
