/**
 * A model summary: one row per leaf module in call order (name, type, output shape, parameters, forward
 * FLOPs at the given input shape), from a real forward pass on zeros in eval mode.
 */
import { zeros } from '../engine/create.js';
import { noGrad } from '../engine/tape.js';
import { scope } from '../engine/scope.js';
import { Conv2d } from './layers/conv2d.js';
import { Linear } from './layers/linear.js';
import type { Module } from './module.js';
import type { Tensor } from '../engine/tensor.js';

export interface SummaryRow { name: string; type: string; output: number[]; params: number; flops: number }
export interface Summary { rows: SummaryRow[]; params: number; flops: number; input: number[] }

function flopsOf(m: Module, x: Tensor, y: Tensor): number {
  if (m instanceof Conv2d) return m.flops(x.shape[0]!, x.shape[2]!, x.shape[3]!);
  if (m instanceof Linear) return 2 * (y.size / m.outFeatures) * m.inFeatures * m.outFeatures;
  return 0;
}

export function summarize(model: Module, input: readonly number[]): Summary {
  const rows: SummaryRow[] = [];
  const leaves = model.namedModules().filter(([, m]) => m.namedChildren().length === 0);
  const originals = leaves.map(([name, m]) => {
    const fwd = m.forward.bind(m);
    m.forward = (x: Tensor) => {
      const y = fwd(x);
      rows.push({ name, type: m.constructor.name, output: [...y.shape], params: m.numParameters(), flops: flopsOf(m, x, y) });
      return y;
    };
    return [m, fwd] as const;
  });
  const wasTraining = model.training;
  try {
    model.eval();
    // The output is not returned from the scope, so nothing of the probe forward outlives it.
    scope(() => { noGrad(() => model.forward(zeros(input, { device: model.device }))); });
  } finally {
    for (const [m] of originals) delete (m as { forward?: unknown }).forward;
    model.train(wasTraining);
  }
  return { rows, params: model.numParameters(), flops: rows.reduce((s, r) => s + r.flops, 0), input: [...input] };
}
