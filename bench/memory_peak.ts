/**
 * Peak GPU memory of one TRADES step (training/steps.ts: the attack, the clean and adversarial forwards, the
 * backward through both, the SGD update), from a fresh model and optimizer, so parameters, gradients and the
 * momentum the first step creates are all counted. The pool is emptied first, so the peak is what the step
 * needs, not what earlier work left pooled. Two figures, as PyTorch's caching allocator reports them:
 * - held (stats().peakBytes): every buffer the pool had created and not destroyed (in use, parked until a
 *   submit, free): the GPU memory the engine held at its worst; compare torch.cuda.max_memory_reserved;
 * - in use (pool.peakInUseBytes): buffers handed out and not yet released; compare max_memory_allocated.
 * bench/torch/torch_memory.py measures the same step in PyTorch; bench/memory_peak_main.ts is the command.
 */
import { tensor } from '../engine/create.js';
import { Generator, rand } from '../engine/rng.js';
import { SGD } from '../engine/optim/index.js';
import { buildModel, modelInput } from '../nn/models/index.js';
import { tradesStep } from '../training/steps.js';
import { withPrecision, type Precision } from '../engine/precision.js';
import type { Device } from '../engine/device.js';

export interface PeakConfig {
  model: string; batch: number; attackSteps: number;
  /** f16-mixed: the step records with f16 operands (engine/precision.ts); default float32. */
  precision?: Precision;
}

export interface PeakRow extends PeakConfig {
  /** Highest bytes the pool held during the step (in use + parked + free). */
  heldBytes: number;
  /** Highest bytes in use (handed out, not released) during the step. */
  inUseBytes: number;
  /** Bytes in use after the step: parameters, momentum, the batch. */
  afterBytes: number;
  flushesForMemory: number;
  submissions: number;
  dispatches: number;
  seconds: number;
  loss: number;
}

function inputShape(model: string): [number, number, number] {
  return modelInput(model);
}

export async function measureStepPeak(device: Device, cfg: PeakConfig): Promise<PeakRow> {
  const shape = inputShape(cfg.model);
  const grey = shape[0] === 1;
  const model = buildModel(cfg.model, { device, generator: new Generator(11) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const x = rand([cfg.batch, ...shape], { device, generator: new Generator(12) });
  const y = tensor(Int32Array.from({ length: cfg.batch }, (_, i) => (i * 7) % 10), [cfg.batch], { device });
  try {
    await device.sync();
    device.pool.trim();
    device.resetPeakBytes();
    const s0 = device.stats();
    const t0 = performance.now();
    const step = () => tradesStep(model, opt, { x, y }, { eps: grey ? 0.1 : 8 / 255, alpha: grey ? 0.01 : 2 / 255, steps: cfg.attackSteps, beta: 6, generator: new Generator(13) });
    const l = withPrecision(cfg.precision ?? 'float32', step, device);
    const loss = await l.item();
    l.dispose();
    const seconds = (performance.now() - t0) / 1e3;
    const s = device.stats();
    return {
      ...cfg, heldBytes: s.peakBytes, inUseBytes: device.pool.peakInUseBytes, afterBytes: s.pooledBytes - s.freeBytes,
      flushesForMemory: s.flushesForMemory - s0.flushesForMemory, submissions: s.submissions - s0.submissions,
      dispatches: s.dispatches - s0.dispatches, seconds, loss,
    };
  } finally {
    opt.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
    device.pool.trim();
  }
}
