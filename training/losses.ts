/**
 * Losses written with the engine's generic ops (the fused WGSL versions come with the CNN kernels).
 * Cross-entropy uses logsumexp with the row max subtracted, so large logits do not overflow exp.
 */
import * as o from '../engine/ops/index.js';
import type { Tensor } from '../engine/tensor.js';

/** Per-example -log softmax(z)_y for logits [B, C] and one-hot targets [B, C]. */
export function crossEntropyPerExample(logits: Tensor, onehot: Tensor): Tensor {
  const m = o.max(logits, 1, true).detach();
  const lse = o.add(o.log(o.sum(o.exp(o.sub(logits, m)), 1, true)), m);
  return o.reshape(o.sub(lse, o.sum(o.mul(logits, onehot), 1, true)), [logits.shape[0]!]);
}

export function crossEntropy(logits: Tensor, onehot: Tensor): Tensor {
  return o.mean(crossEntropyPerExample(logits, onehot));
}

/** Fraction of rows whose argmax equals the label (labels int32 [B]); read back as a number. */
export async function accuracy(logits: Tensor, labels: Int32Array): Promise<number> {
  const pred = o.argmax(logits, 1);
  try {
    const p = await pred.read();
    let ok = 0;
    for (let i = 0; i < labels.length; i++) if (p[i] === labels[i]) ok++;
    return ok / labels.length;
  } finally {
    pred.dispose();
  }
}
