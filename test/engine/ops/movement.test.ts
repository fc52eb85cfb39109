/**
 * The strided copy behind permute, slice, concat and broadcast_to: its dim coalescing, and word-exact copies
 * (int32 beyond float precision) over ranks 1..8, inner dims that do and do not fill a thread's chunk,
 * broadcast (stride 0) dims, offsets, and the plain buffer copy taken when the views are the whole buffer.
 */
import { describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { tensor } from '../../../engine/create.js';
import { stridesOf } from '../../../engine/shape.js';
import * as o from '../../../engine/ops/index.js';
import { coalesceCopy, isPlainCopy } from '../../../kernels/copy.js';

const dev = useDevice();

/** Distinct int32 words, most above 2^24 so a float path would round them. */
const words = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => ((i + 1) * 2654435761 + seed * 40503) | 0);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** y[c] = x[c permuted] on the CPU. */
function cpuPermute(x: number[], shape: number[], dims: number[]): number[] {
  const st = stridesOf(shape);
  const out = dims.map((d) => shape[d]!);
  const ost = stridesOf(out);
  return Array.from({ length: size(out) }, (_, i) => x[dims.reduce((s, d, k) => s + (Math.floor(i / ost[k]!) % out[k]!) * st[d]!, 0)]!);
}

describe('coalesceCopy', () => {
  it('drops size-1 dims and merges dims contiguous in both views', () => {
    // permute [2,3,4,5] (0,1,3,2): dims 0 and 1 stay contiguous in both views.
    expect(coalesceCopy([2, 3, 5, 4], [60, 20, 1, 5], [60, 20, 4, 1])).toEqual({ shape: [6, 5, 4], src: [20, 1, 5], dst: [20, 4, 1] });
    // broadcast [64,32,1,1] -> [64,32,14,14]: the stride-0 dims merge, and so do the contiguous ones.
    expect(coalesceCopy([64, 32, 14, 14], [32, 1, 0, 0], [6272, 196, 14, 1])).toEqual({ shape: [2048, 196], src: [1, 0], dst: [196, 1] });
    expect(coalesceCopy([3, 1, 4], [4, 99, 1], [4, 4, 1])).toEqual({ shape: [12], src: [1], dst: [1] });
    expect(coalesceCopy([], [], [])).toEqual({ shape: [1], src: [1], dst: [1] });
    expect(coalesceCopy([1, 1], [0, 0], [1, 1])).toEqual({ shape: [1], src: [1], dst: [1] });
  });

  it('takes the plain buffer copy only for the whole buffer in order', () => {
    expect(isPlainCopy({ offset: 0, strides: [4, 1] }, { offset: 0, strides: [4, 1] }, [3, 4])).toBe(true);
    expect(isPlainCopy({ offset: 4, strides: [4, 1] }, { offset: 0, strides: [4, 1] }, [3, 4])).toBe(false);
    expect(isPlainCopy({ offset: 0, strides: [5, 1] }, { offset: 0, strides: [4, 1] }, [3, 4])).toBe(false);
    expect(isPlainCopy({ offset: 0, strides: [0, 1] }, { offset: 0, strides: [4, 1] }, [3, 4])).toBe(false);
  });
});

describe('strided copy', () => {
  it.each([
    [[37], [0]],
    [[7, 9], [1, 0]],
    [[3, 1, 4], [1, 0, 2]],
    [[2, 3, 11, 5], [0, 1, 3, 2]],
    [[4, 3, 17], [2, 0, 1]],
    [[2, 3, 2, 5, 2], [4, 2, 0, 3, 1]],
    [[2, 1, 3, 2, 2, 3], [5, 0, 2, 4, 1, 3]],
    [[2, 2, 1, 3, 2, 2, 2, 3], [7, 6, 5, 4, 3, 2, 1, 0]],
  ])('permutes %j by %j word for word', async (shape, dims) => {
    const x = words(size(shape), shape.length);
    const y = o.permute(tensor(x, shape, { dtype: 'int32' }), dims);
    expect(Array.from(await y.read())).toEqual(cpuPermute(x, shape, dims));
  });

  it('slices, concatenates and broadcasts word for word', async () => {
    const x = words(5 * 21, 1);
    const t = tensor(x, [5, 21], { dtype: 'int32' });
    const rows = (lo: number, hi: number, c0: number, c1: number) =>
      Array.from({ length: hi - lo }, (_, r) => x.slice((lo + r) * 21 + c0, (lo + r) * 21 + c1)).flat();
    expect(Array.from(await o.slice(t, 1, 2, 19).read())).toEqual(rows(0, 5, 2, 19));
    expect(Array.from(await o.slice(t, 0, 1, 4).read())).toEqual(rows(1, 4, 0, 21));
    expect(Array.from(await o.slice(t, 0, 0, 2).read())).toEqual(rows(0, 2, 0, 21));
    const parts = [o.slice(t, 1, 0, 3), o.slice(t, 1, 3, 12), o.slice(t, 1, 12, 21)];
    expect(Array.from(await o.concat(parts, 1).read())).toEqual(x);
    expect(Array.from(await o.concat([o.slice(t, 0, 0, 2), o.slice(t, 0, 2, 5)], 0).read())).toEqual(x);
    const b = o.broadcastTo(tensor(x.slice(0, 6), [2, 3, 1, 1], { dtype: 'int32' }), [2, 3, 5, 5]);
    expect(Array.from(await b.read())).toEqual(x.slice(0, 6).flatMap((v) => new Array<number>(25).fill(v)));
    const c = o.broadcastTo(tensor(x.slice(0, 3), [3, 1], { dtype: 'int32' }), [2, 3, 9]);
    expect(Array.from(await c.read())).toEqual([0, 1].flatMap(() => x.slice(0, 3).flatMap((v) => new Array<number>(9).fill(v))));
  });
});
