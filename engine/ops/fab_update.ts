/**
 * fab_update: FAB's bookkeeping once the new iterate `moved` has been checked (AutoAttack fab_base.py), one
 * dispatch for the batch:
 *   x1 = wrong ? x0 + beta (moved - x0) : moved   (a successful iterate steps back towards x0),
 *   adv = closer ? moved : adv                     (the closest adversarial point so far),
 * with the per-example masks wrong, closer [N] (nonzero: true). Outputs `x1` and `adv`, of moved's shape.
 * Forward only.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { CpuRandom } from '../ref/random.js';
import { fmt, sameShape, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runFabUpdate } from '../../kernels/fab.js';

export interface FabUpdateAttrs { beta: number }

function checkArgs(what: string, shapes: Shape[], a: FabUpdateAttrs): { rows: number; features: number } {
  const [moved, x0, adv, wrong, closer] = shapes as [Shape, Shape, Shape, Shape, Shape];
  if (!Number.isFinite(a.beta)) throw new RangeError(`${what}: beta must be finite, got ${a.beta}`);
  if (moved.length < 1) throw new RangeError(`${what}: moved needs a batch dimension, got ${fmt(moved)}`);
  for (const [name, s] of [['x0', x0], ['adv', adv]] as const) {
    if (!sameShape(s, moved)) throw new RangeError(`${what}: ${name} has shape ${fmt(s)}, expected moved's ${fmt(moved)}`);
  }
  const rows = moved[0]!;
  for (const [name, s] of [['wrong', wrong], ['closer', closer]] as const) {
    if (s.length !== 1 || s[0] !== rows) throw new RangeError(`${what}: ${name} must be [${rows}] (one per example), got ${fmt(s)}`);
  }
  return { rows, features: moved.slice(1).reduce((p, q) => p * q, 1) };
}

function refUpdate(inputs: RefTensor[], a: FabUpdateAttrs): { x1: RefTensor; adv: RefTensor } {
  const [moved, x0, adv, wrong, closer] = inputs as [RefTensor, RefTensor, RefTensor, RefTensor, RefTensor];
  const { features } = checkArgs('fab_update (reference)', inputs.map((t) => t.shape), a);
  const x1 = ref(moved.shape);
  const next = ref(moved.shape);
  moved.data.forEach((m, i) => {
    const r = Math.floor(i / features);
    x1.data[i] = wrong.data[r] ? x0.data[i]! + a.beta * (m - x0.data[i]!) : m;
    next.data[i] = closer.data[r] ? m : adv.data[i]!;
  });
  return { x1, adv: next };
}

function drawCase(name: string, shape: Shape, beta: number, seed: number): AuditCase<FabUpdateAttrs> {
  const rng = new CpuRandom(seed);
  const n = shape.reduce((p, q) => p * q, 1);
  const rows = shape[0]!;
  const img = () => Array.from({ length: n }, () => Math.fround(rng.next()));
  // Every combination of the two masks.
  const wrong = Array.from({ length: rows }, (_, r) => r % 2);
  const closer = Array.from({ length: rows }, (_, r) => (r % 4 >= 2 ? 1 : 0));
  return { name, shapes: [shape, shape, shape, [rows], [rows]], attrs: { beta }, values: [img(), img(), img(), wrong, closer] };
}

const fabUpdateOp = defineOp<FabUpdateAttrs>({
  name: 'fab_update',
  inputs: ['moved', 'x0', 'adv', 'wrong', 'closer'],
  outputs: ['x1', 'adv_next'],
  forward: (inputs, a) => {
    const [moved, x0, adv, wrong, closer] = inputs as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const { features } = checkArgs('fabUpdate', inputs.map((t) => t.shape), a);
    const x1 = empty(moved.device, moved.shape);
    const next = empty(moved.device, moved.shape);
    runFabUpdate(moved.device, {
      moved: moved.storage.binding(), x0: x0.storage.binding(), adv: adv.storage.binding(), wrong: wrong.storage.binding(),
      closer: closer.storage.binding(), x1Next: x1.storage.binding(), advNext: next.storage.binding(),
    }, moved.size, features, a.beta);
    return { outs: { x1, adv_next: next } };
  },
  reference: {
    forward: (inputs, a) => {
      const r = refUpdate(inputs, a);
      return { x1: r.x1, adv_next: r.adv };
    },
  },
  nondiff: [0, 1, 2, 3, 4],
  audit: [
    drawCase('fab_update [8,1,3,3] beta 0.9', [8, 1, 3, 3], 0.9, 1),
    drawCase('fab_update [4,700] beta 0', [4, 700], 0, 2),
    drawCase('fab_update [300,2] (several workgroups) beta 1', [300, 2], 1, 3),
    drawCase('fab_update [1,1]', [1, 1], 0.5, 4),
  ],
});

/** FAB's backward step after a success and its closest-point update (see the header). */
export function fabUpdate(moved: Tensor, x0: Tensor, adv: Tensor, masks: { wrong: Tensor; closer: Tensor }, opts: { beta: number }): { x1: Tensor; adv: Tensor } {
  const r = fabUpdateOp([moved, x0, adv, masks.wrong, masks.closer], { beta: opts.beta });
  return { x1: r.x1!, adv: r.adv_next! };
}
