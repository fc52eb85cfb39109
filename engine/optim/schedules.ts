/**
 * Learning-rate schedules, computed on the CPU and written into the optimizer's parameter groups, as
 * torch.optim.lr_scheduler: creating a scheduler records each group's lr as its base lr and applies the
 * schedule at epoch 0; every `step()` advances one epoch (or iteration, if called per batch) and sets the
 * groups' lr. The lr of epoch e is the closed form of PyTorch's schedule (`_get_closed_form_lr`), so it does
 * not drift with the number of steps and any epoch can be computed directly (`lrAt`).
 */

/** Anything with parameter groups that carry an lr (every Optimizer). */
export interface SchedulableOptimizer { readonly paramGroups: { lr: number }[] }

export interface SchedulerState { lastEpoch: number; baseLrs: number[] }

export abstract class LRScheduler {
  /** Each group's lr when the scheduler was created. */
  readonly baseLrs: number[];
  /** The epoch whose lr the groups hold (0 after construction). */
  lastEpoch = 0;

  protected constructor(readonly optimizer: SchedulableOptimizer) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) throw new TypeError(`${this.constructor.name}: expected an optimizer with paramGroups`);
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr of one group with base lr `base` at epoch `epoch`. */
  protected abstract lrFor(base: number, epoch: number): number;

  /** Every group's lr at `epoch` (an integer >= 0). */
  lrAt(epoch: number): number[] {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`${this.constructor.name}.lrAt: epoch must be an integer >= 0, got ${epoch}`);
    return this.baseLrs.map((b) => this.lrFor(b, epoch));
  }

  protected apply(): void {
    const lrs = this.lrAt(this.lastEpoch);
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = lrs[i] ?? g.lr; });
  }

  /** Advances one epoch and sets the groups' lr. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The lr each group holds now. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Resumes at the saved epoch (and base lrs) and sets the groups' lr accordingly. */
  loadStateDict(s: SchedulerState): void {
    const what = `${this.constructor.name}.loadStateDict`;
    if (!s || !Number.isInteger(s.lastEpoch) || s.lastEpoch < 0) throw new RangeError(`${what}: lastEpoch must be an integer >= 0, got ${s?.lastEpoch}`);
    if (!Array.isArray(s.baseLrs) || s.baseLrs.length !== this.baseLrs.length || s.baseLrs.some((v) => typeof v !== 'number')) {
      throw new RangeError(`${what}: baseLrs must hold ${this.baseLrs.length} numbers (one per parameter group), got ${JSON.stringify(s.baseLrs)}`);
    }
    this.baseLrs.splice(0, this.baseLrs.length, ...s.baseLrs);
    this.lastEpoch = s.lastEpoch;
    this.apply();
  }
}

function need(ok: boolean, what: string, want: string, got: unknown): void {
  if (!ok) throw new RangeError(`${what} must be ${want}, got ${JSON.stringify(got)}`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export interface StepLROptions {
  /** Epochs between decays. */
  stepSize: number;
  /** Multiplier per decay (default 0.1). */
  gamma?: number;
}

/** lr = base * gamma ^ floor(epoch / stepSize), as torch.optim.lr_scheduler.StepLR. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: SchedulableOptimizer, opts: StepLROptions) {
    super(optimizer);
    this.stepSize = opts.stepSize;
    this.gamma = opts.gamma ?? 0.1;
    need(Number.isInteger(this.stepSize) && this.stepSize > 0, 'StepLR: stepSize', 'an integer > 0', opts.stepSize);
    need(isNum(this.gamma) && this.gamma >= 0, 'StepLR: gamma', 'a finite number >= 0', opts.gamma);
    this.apply();
  }

  protected lrFor(base: number, epoch: number): number {
    return base * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

export interface MultiStepLROptions {
  /** Epochs at which the lr is multiplied by gamma (a milestone listed twice applies gamma twice, as PyTorch). */
  milestones: readonly number[];
  gamma?: number;
}

/** lr = base * gamma ^ (number of milestones <= epoch), as torch.optim.lr_scheduler.MultiStepLR. */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];
  readonly gamma: number;
  constructor(optimizer: SchedulableOptimizer, opts: MultiStepLROptions) {
    super(optimizer);
    need(Array.isArray(opts.milestones) && opts.milestones.every((m) => Number.isInteger(m) && m >= 0), 'MultiStepLR: milestones', 'a list of integers >= 0', opts.milestones);
    this.milestones = [...opts.milestones].sort((a, b) => a - b);
    this.gamma = opts.gamma ?? 0.1;
    need(isNum(this.gamma) && this.gamma >= 0, 'MultiStepLR: gamma', 'a finite number >= 0', opts.gamma);
    this.apply();
  }

  protected lrFor(base: number, epoch: number): number {
    // bisect_right: milestones equal to the epoch count as passed.
    return base * this.gamma ** this.milestones.filter((m) => m <= epoch).length;
  }
}

export interface CosineLROptions {
  /** Length of the cosine half-period after the warmup (CosineAnnealingLR's T_max). */
  tMax: number;
  /** The lr at the end of the cosine (default 0). */
  etaMin?: number;
  /** Epochs of linear warmup before the cosine (default 0). */
  warmup?: number;
  /** Warmup starts at base * warmupStartFactor, in (0, 1] (default 1/3, LinearLR's). */
  warmupStartFactor?: number;
}

/**
 * Cosine annealing with optional linear warmup: PyTorch's SequentialLR([LinearLR(start_factor, total_iters =
 * warmup), CosineAnnealingLR(T_max = tMax, eta_min)], milestones = [warmup]). During the warmup
 * lr = base * (s + (1 - s) * epoch / warmup); from epoch `warmup` on, with t = epoch - warmup,
 * lr = etaMin + (base - etaMin) * (1 + cos(pi t / tMax)) / 2 (past tMax the cosine rises again, as PyTorch's).
 */
export class CosineLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  readonly warmup: number;
  readonly warmupStartFactor: number;
  constructor(optimizer: SchedulableOptimizer, opts: CosineLROptions) {
    super(optimizer);
    this.tMax = opts.tMax;
    this.etaMin = opts.etaMin ?? 0;
    this.warmup = opts.warmup ?? 0;
    this.warmupStartFactor = opts.warmupStartFactor ?? 1 / 3;
    need(isNum(this.tMax) && this.tMax > 0, 'CosineLR: tMax', 'a number > 0', opts.tMax);
    need(isNum(this.etaMin), 'CosineLR: etaMin', 'a finite number', opts.etaMin);
    need(Number.isInteger(this.warmup) && this.warmup >= 0, 'CosineLR: warmup', 'an integer >= 0', opts.warmup);
    need(isNum(this.warmupStartFactor) && this.warmupStartFactor > 0 && this.warmupStartFactor <= 1, 'CosineLR: warmupStartFactor', 'a number in (0, 1]', opts.warmupStartFactor);
    this.apply();
  }

  protected lrFor(base: number, epoch: number): number {
    if (epoch < this.warmup) {
      const s = this.warmupStartFactor;
      return base * (s + ((1 - s) * epoch) / this.warmup);
    }
    const t = epoch - this.warmup;
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2;
  }
}
