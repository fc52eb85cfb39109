/**
 * A training run's health, judged on the GPU (kernels/health.wgsl): each step counts the non-finite values
 * of its input batch, its loss and its gradient norm into a small buffer, and a one-thread judgement turns
 * them into the gate the optimizer step reads (Optimizer.step({ gate })). Nothing is read back per step: the
 * four state words join the values a training loop already reads when it logs, and then say whether, since
 * when and why the run went bad. In 'stop' mode the first bad step closes the gate for good, so the weights
 * stay those of the last good step until the loop notices and stops; in 'skip' mode bad steps are skipped
 * and counted (as AMP's loss scaler skips overflowing steps).
 */
import { full, tensor } from './create.js';
import { keep } from './scope.js';
import type { Device } from './device.js';
import type { Tensor } from './tensor.js';
import { runCountNonFinite, runJudge, type HealthBuffers } from '../kernels/health.js';

export type HealthMode = 'stop' | 'skip';

/** What the state words say (engine/health.ts: read them with `read` or decode a copy with `decode`). */
export interface HealthReport {
  healthy: boolean;
  /** The first step (0-based, as given to `check`) that was not finite, or null. */
  firstBadStep: number | null;
  /** What was not finite at that step. */
  what: ('input batch' | 'loss' | 'gradients')[];
  /** Steps skipped ('skip' mode). */
  skipped: number;
}

const WHAT = ['input batch', 'loss', 'gradients'] as const;

export class TrainingHealth {
  private readonly counts: Tensor;
  /** int32 [4] (read as u32 by the kernel): healthy, first bad step + 1, what (bits), skipped. */
  readonly state: Tensor;
  /** float32 [1]: 1 where the step may update the weights. */
  readonly gate: Tensor;

  constructor(readonly device: Device, readonly mode: HealthMode = 'stop') {
    if (mode !== 'stop' && mode !== 'skip') throw new RangeError(`TrainingHealth: mode must be 'stop' or 'skip', got ${JSON.stringify(mode)}`);
    this.counts = keep(full([4], 0, { device, dtype: 'uint32' }));
    this.state = keep(tensor(new Int32Array([1, 0, 0, 0]), [4], { device }));
    this.gate = keep(full([1], 1, { device }));
  }

  private buffers(): HealthBuffers {
    return { counts: this.counts.storage.binding(), state: this.state.storage.binding(), gate: this.gate.storage.binding() };
  }

  /**
   * Records the checks of one step (the input batch if given, the loss, the gradient norm) and the judgement;
   * returns the gate for the optimizer step. Three small dispatches and a pass over the input, no readback.
   */
  check(step: number, q: { input?: Tensor; loss: Tensor; gradNorm: Tensor }): Tensor {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`TrainingHealth.check: step must be an integer >= 0, got ${step}`);
    const b = this.buffers();
    if (q.input) runCountNonFinite(this.device, q.input.storage.binding(), b, q.input.size, 0);
    runCountNonFinite(this.device, q.loss.storage.binding(), b, q.loss.size, 1);
    runCountNonFinite(this.device, q.gradNorm.storage.binding(), b, q.gradNorm.size, 2);
    runJudge(this.device, q.loss.storage.binding(), b, step, this.mode === 'stop');
    this.state.storage.version++;
    this.gate.storage.version++;
    return this.gate;
  }

  /** Decodes the four state words. */
  static decode(words: ArrayLike<number>): HealthReport {
    const [healthy, bad, what, skipped] = Array.from(words);
    return {
      healthy: healthy === 1, firstBadStep: bad ? bad - 1 : null,
      what: WHAT.filter((_, i) => ((what ?? 0) >> i) & 1), skipped: skipped ?? 0,
    };
  }

  /** Reads the state (one small readback: fold it into the loop's logging read where possible). */
  async read(): Promise<HealthReport> {
    return TrainingHealth.decode(await this.state.read());
  }

  dispose(): void {
    for (const t of [this.counts, this.state, this.gate]) t.dispose();
  }
}
