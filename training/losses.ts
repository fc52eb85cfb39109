/** Training-side helpers around the loss ops. */
import * as o from '../engine/ops/index.js';
import type { Tensor } from '../engine/tensor.js';

/** Fraction of rows whose argmax equals the label (labels int32 [B]); reads back one small tensor. */
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
