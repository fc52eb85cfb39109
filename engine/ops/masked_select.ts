/**
 * masked_select (torch.masked_select) and the stream compaction behind it: compactIndices gives the positions of
 * a mask's true elements, in increasing order, and their count, through a multi-level prefix sum on the GPU
 * (kernels/scan.ts) with no readback. The count stays on the GPU; reading it is the caller's one small readback
 * (AutoAttack reads it once per attack, not once per step), which the output's data-dependent length needs:
 * maskedSelect takes the count, maskedSelectAsync and selectRows read it.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty, full } from '../create.js';
import { ref } from '../ref/tensor.js';
import { broadcastShapes, fmt, sameShape, sizeOf } from '../shape.js';
import { scope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { runCompactIndices, type MaskKind } from '../../kernels/scan.js';
import { indexSelect, indexSelectOp } from './indexing.js';
import * as o from './index.js';
import { registerCaseAdapter, param } from '../case_adapters.js';

export interface Compacted {
  /**
   * int32 [n] (n = the mask's size): the flat row-major positions of the true elements in increasing order in
   * [0, count), then -1 in every remaining slot (an out-of-range index, which gather reads as 0 and the scatters skip).
   */
  indices: Tensor;
  /** int32 [1]: how many elements of the mask are true. */
  count: Tensor;
}

/**
 * Compacts `mask` (any shape; float32 as the comparison ops return, true where nonzero, NaN included; or
 * int32/uint32, true where nonzero). Records 3 dispatches for up to 2^20 elements, 5 up to 2^30; no readback.
 */
export function compactIndices(mask: Tensor): Compacted {
  mask.assertLive('compactIndices (mask)');
  const n = mask.size;
  if (n === 0) return { indices: empty(mask.device, [0], 'int32'), count: full([1], 0, { device: mask.device, dtype: 'int32' }) };
  const kind: MaskKind = mask.dtype === 'float32' ? 'float' : 'int';
  const indices = empty(mask.device, [n], 'int32');
  const count = empty(mask.device, [1], 'int32');
  // The scratch buffers go back to the pool at the scope's end; recorded work keeps them until it is submitted.
  scope(() => runCompactIndices(mask.device, mask.storage.binding(), n, kind, indices.storage.binding(), count.storage.binding(),
    (words) => empty(mask.device, [words], 'uint32').storage.binding()));
  return { indices, count };
}

export interface MaskedSelectAttrs {
  /**
   * How many mask elements are true (the output's length), known to the caller: the synchronous form cannot
   * read it. A wrong count is not detected: past the true count the output holds 0s, short of it the tail is cut.
   */
  count: number;
}

/** x's elements at the first `count` compacted positions, as a 1-D tensor (its backward is one scatter: the positions are unique). */
function selectCompacted(x: Tensor, indices: Tensor, count: number): Tensor {
  const idx = o.slice(indices, 0, 0, count);
  return indexSelectOp([o.reshape(x, [-1]), idx], { axis: 0, unique: true });
}

export const maskedSelectOp = defineOp<MaskedSelectAttrs>({
  name: 'masked_select',
  composite: true,
  anyDType: true,
  nondiff: [1],
  forward: ([x, mask], a) => {
    if (!sameShape(x!.shape, mask!.shape)) throw new RangeError(`masked_select: mask has shape ${fmt(mask!.shape)}, expected x's ${fmt(x!.shape)} (maskedSelect broadcasts them)`);
    if (!Number.isInteger(a.count) || a.count < 0 || a.count > x!.size) throw new RangeError(`masked_select: count must be an integer in [0, ${x!.size}], got ${a.count}`);
    return scope(() => selectCompacted(x!, compactIndices(mask!).indices, a.count));
  },
  reference: {
    forward: ([x, mask], a) => {
      const picked = [...x!.data].filter((_, i) => mask!.data[i] !== 0);
      if (picked.length !== a.count) throw new RangeError(`masked_select reference: count ${a.count} but the mask has ${picked.length} true elements`);
      return ref([picked.length], picked);
    },
    backward: ([x, mask], _, __, g) => {
      const gx = ref(x!.shape);
      let j = 0;
      for (let i = 0; i < gx.data.length; i++) if (mask!.data[i] !== 0) gx.data[i] = g.data[j++]!;
      return [gx, null];
    },
  },
  audit: maskedSelectCases(),
});

function maskCase(name: string, shape: number[], pick: (i: number) => boolean): AuditCase<MaskedSelectAttrs> {
  const mask = Array.from({ length: sizeOf(shape) }, (_, i) => (pick(i) ? 1 : 0));
  return { name, shapes: [shape, shape], attrs: { count: mask.filter(Boolean).length }, values: [null, mask] };
}

function maskedSelectCases(): AuditCase<MaskedSelectAttrs>[] {
  return [
    maskCase('masked_select [7] every third', [7], (i) => i % 3 === 0),
    maskCase('masked_select [4,5] scattered', [4, 5], (i) => (i * 7) % 5 < 2),
    maskCase('masked_select [2,3,4] all true', [2, 3, 4], () => true),
    maskCase('masked_select [3,1,5] all false', [3, 1, 5], () => false),
    maskCase('masked_select [2,3,2,3] last only', [2, 3, 2, 3], (i) => i === 35),
    maskCase('masked_select [1300] across scan blocks', [1300], (i) => (i * 2654435761) % 7 < 3),
  ];
}

function broadcastPair(x: Tensor, mask: Tensor): [Tensor, Tensor] {
  if (sameShape(x.shape, mask.shape)) return [x, mask];
  const shape = broadcastShapes('masked_select', x.shape, mask.shape);
  return [o.broadcastTo(x, shape), o.broadcastTo(mask, shape)];
}

/**
 * x's elements where mask (broadcast with x) is true, in row-major order, as a 1-D tensor (torch.masked_select).
 * Its length depends on the data: this synchronous form takes it as `count` (e.g. read once from
 * compactIndices(mask).count); maskedSelectAsync reads it.
 */
export function maskedSelect(x: Tensor, mask: Tensor, opts: { count: number }): Tensor {
  return scope(() => maskedSelectOp(broadcastPair(x, mask), { count: opts.count }));
}

/** maskedSelect with the count read from the GPU: its one readback, 4 bytes. The mask is compacted once. */
export async function maskedSelectAsync(x: Tensor, mask: Tensor): Promise<Tensor> {
  const [xb, mb, c] = scope(() => { const [a, b] = broadcastPair(x, mask); return [a, b, compactIndices(b)] as const; });
  try {
    const count = await c.count.item();
    return scope(() => selectCompacted(xb, c.indices, count));
  } finally {
    for (const t of [c.indices, c.count, ...(xb === x ? [] : [xb]), ...(mb === mask ? [] : [mb])]) t.dispose();
  }
}

/**
 * The rows of x (along axis 0) where mask [N] is true, with their positions and how many there are (AutoAttack's
 * still-robust examples): one 4-byte readback. Write results back with indexCopy(full, 0, indices, rows', { unique: true }).
 */
export async function selectRows(x: Tensor, mask: Tensor): Promise<{ rows: Tensor; indices: Tensor; count: number }> {
  if (mask.rank !== 1 || x.rank < 1 || mask.shape[0] !== x.shape[0]) throw new RangeError(`selectRows: mask must be [N] for x of shape [N, ...], got mask ${fmt(mask.shape)} and x ${fmt(x.shape)}`);
  const c = compactIndices(mask);
  try {
    const count = await c.count.item();
    const indices = o.slice(c.indices, 0, 0, count);
    return { rows: indexSelect(x, 0, indices, { unique: true }), indices, count };
  } finally {
    c.indices.dispose();
    c.count.dispose();
  }
}

// The count (the output's length) is a param: the synchronous engine form takes it.
registerCaseAdapter('masked_select', (x, p) => ({ y: maskedSelect(x.x!, x.mask!, { count: param.num(p, 'count') }) }));
