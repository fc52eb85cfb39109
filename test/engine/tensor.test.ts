/**
 * Tensors: creation from every kind of data and dtype, constants, views, movement ops on integer data
 * (copied as 32-bit words, never through float), readback helpers, grids past one dispatch dimension,
 * and empty tensors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { arange, full, ones, tensor, zeros } from '../../engine/create.js';
import { DTYPES } from '../../engine/dtype.js';
import { grid1d } from '../../kernels/kernel.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

// Integers a float32 cannot hold exactly: a movement op that went through f32 would change them.
const BIG = [2 ** 30 + 1, -(2 ** 31), 2 ** 31 - 1, -123456789, 16777217, 7];

describe('creation', () => {
  it('from nested arrays infers the shape (float32)', async () => {
    const t = tensor([[[1, 2]], [[3, 4]], [[5, 6]]]);
    expect(t.shape).toEqual([3, 1, 2]);
    expect(t.dtype).toBe('float32');
    expect(t.size).toBe(6);
    expect(Array.from(await t.read())).toEqual([1, 2, 3, 4, 5, 6]);
    t.dispose();
  });

  it('from typed arrays keeps int32 / uint32 and their exact values', async () => {
    const i = tensor(Int32Array.from(BIG));
    expect(i.dtype).toBe('int32');
    expect(await i.read()).toEqual(Int32Array.from(BIG));
    const u = tensor(Uint32Array.from([0, 1, 0xffffffff, 0x80000000]), [2, 2]);
    expect(u.dtype).toBe('uint32');
    expect(Array.from(await u.read())).toEqual([0, 1, 0xffffffff, 0x80000000]);
    const f = tensor(Float32Array.from([0.1, -2.5, 1e-30]));
    expect(Array.from(await f.read())).toEqual(Array.from(Float32Array.from([0.1, -2.5, 1e-30])));
    // A plain array with an explicit dtype, and a scalar.
    const j = tensor([[-1, 2], [3, -4]], undefined, { dtype: 'int32' });
    expect(await j.toArray()).toEqual([[-1, 2], [3, -4]]);
    const s = tensor(2.5);
    expect(s.shape).toEqual([]);
    expect(await s.item()).toBe(2.5);
    for (const t of [i, u, f, j, s]) t.dispose();
  });

  it('zeros / ones / full for every dtype write the value\'s exact bit pattern', async () => {
    const cases: Record<string, [number, ArrayLike<number>]> = {
      float32: [-1.5, [-1.5]], int32: [-(2 ** 31) + 3, [-(2 ** 31) + 3]], uint32: [4_000_000_000, [4_000_000_000]], float16: [-65504, [-65504]],
    };
    for (const dtype of DTYPES) {
      const z = zeros([2, 3], { dtype });
      const one = ones([5], { dtype });
      const f = full([3, 1, 2], cases[dtype]![0], { dtype });
      for (const t of [z, one, f]) expect(t.dtype).toBe(dtype);
      expect(Array.from(await z.read()), `zeros ${dtype}`).toEqual([0, 0, 0, 0, 0, 0]);
      expect(Array.from(await one.read()), `ones ${dtype}`).toEqual([1, 1, 1, 1, 1]);
      expect(Array.from(await f.read()), `full ${dtype}`).toEqual(new Array(6).fill(cases[dtype]![1][0]));
      for (const t of [z, one, f]) t.dispose();
    }
    const big = full([300], 7); // more than one workgroup of the fill kernel
    expect((await big.read()).every((v) => v === 7)).toBe(true);
    big.dispose();
  });

  it('item() and toArray()', async () => {
    const s = full([1, 1], -3);
    expect(await s.item()).toBe(-3);
    const a = arange(6);
    expect(await o.reshape(a, [2, 3]).toArray()).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(await o.reshape(a, [3, 1, 2]).toArray()).toEqual([[[0, 1]], [[2, 3]], [[4, 5]]]);
    expect(await full([], 9).toArray()).toBe(9);
    s.dispose();
    a.dispose();
  });
});

describe('views and movement', () => {
  it('reshape (with -1) is a view sharing storage; wrong sizes are refused', async () => {
    const x = arange(12);
    const y = o.reshape(x, [3, -1]);
    expect(y.shape).toEqual([3, 4]);
    expect(y.storage).toBe(x.storage);
    expect(o.flatten(o.reshape(x, [2, 3, 2]), 1).shape).toEqual([2, 6]);
    expect(() => o.reshape(x, [5, -1])).toThrow(/cannot reshape \[12\] \(12 elements\) to \[5, -1\]/);
    expect(() => o.reshape(x, [2, 2])).toThrow(/cannot reshape/);
    x.dispose();
    // The view keeps the shared buffer alive after the original is disposed.
    expect(Array.from(await y.read())).toEqual([...Array(12).keys()]);
    y.dispose();
  });

  it('permute and transpose move int32 words exactly', async () => {
    const data = Array.from({ length: 24 }, (_, i) => BIG[i % BIG.length]! + (i % BIG.length === 5 ? i : 0));
    const x = tensor(Int32Array.from(data), [2, 3, 4]);
    const p = o.permute(x, [2, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.dtype).toBe('int32');
    const want: number[] = [];
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) want.push(data[i * 12 + j * 4 + k]!);
    expect(Array.from(await p.read())).toEqual(want);
    const t = o.transpose(o.reshape(x, [6, 4]));
    const wantT: number[] = [];
    for (let c = 0; c < 4; c++) for (let r = 0; r < 6; r++) wantT.push(data[r * 4 + c]!);
    expect(t.shape).toEqual([4, 6]);
    expect(Array.from(await t.read())).toEqual(wantT);
    for (const v of [x, p, t]) v.dispose();
  });

  it('slice, concat and broadcastTo on int32 data', async () => {
    const x = tensor(Int32Array.from(BIG), [2, 3]); // [[2^30+1, -2^31, 2^31-1], [-123456789, 16777217, 7]]
    const s = o.slice(x, 1, -2); // columns 1..2
    expect(s.shape).toEqual([2, 2]);
    expect(Array.from(await s.read())).toEqual([BIG[1], BIG[2], BIG[4], BIG[5]]);
    const c = o.concat([x, o.slice(x, 0, 1, 2)], 0); // rows: x0, x1, x1
    expect(c.shape).toEqual([3, 3]);
    expect(Array.from(await c.read())).toEqual([...BIG, BIG[3], BIG[4], BIG[5]]);
    const c1 = o.concat([s, x], -1);
    expect(Array.from(await c1.read())).toEqual([BIG[1], BIG[2], ...BIG.slice(0, 3), BIG[4], BIG[5], ...BIG.slice(3)]);
    const col = o.reshape(o.slice(x, 1, 2, 3), [2, 1]); // [[2^31-1], [7]]
    const b = o.broadcastTo(col, [2, 2, 3]);
    expect(b.dtype).toBe('int32');
    expect(Array.from(await b.read())).toEqual([BIG[2], BIG[2], BIG[2], 7, 7, 7, BIG[2], BIG[2], BIG[2], 7, 7, 7]);
    const f = tensor([1, 2, 3]);
    expect(() => o.concat([x, f.reshape([1, 3])], 0)).toThrow(/different dtypes.*int32.*float32/);
    expect(() => o.broadcastTo(x, [3, 3])).toThrow(/broadcast/);
    for (const t of [x, s, c, c1, col, b, f]) t.dispose();
  });
});

describe('grids and sizes', () => {
  it('grid1d folds past 65535 workgroups into a 2-D grid that covers every thread', () => {
    expect(grid1d(0, 256)).toEqual([1, 1, 1]);
    expect(grid1d(1, 256)).toEqual([1, 1, 1]);
    expect(grid1d(257, 256)).toEqual([2, 1, 1]);
    expect(grid1d(65535 * 256, 256)).toEqual([65535, 1, 1]);
    expect(grid1d(65535 * 256 + 1, 256)).toEqual([65535, 2, 1]);
    expect(grid1d(65536, 1)).toEqual([65535, 2, 1]);
    for (const [threads, wg] of [[65536, 1], [3 * 65535 + 7, 1], [1e9, 256], [70_000_001, 64]] as const) {
      const [x, y, z] = grid1d(threads, wg);
      expect(x).toBeLessThanOrEqual(65535);
      expect(y).toBeLessThanOrEqual(65535);
      expect(z).toBe(1);
      // Enough groups, and fewer than one extra row of them.
      expect(x * y * wg).toBeGreaterThanOrEqual(threads);
      expect((x * y - x) * wg).toBeLessThan(threads);
    }
  });

  it('a folded 2-D grid runs on the GPU: sum over rows of a [70000, 2] tensor (one workgroup per row)', async () => {
    const rows = 70_000;
    expect(grid1d(rows, 1)[1]).toBe(2); // the reduce kernel gets a folded grid here
    const data = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) { data[2 * r] = r; data[2 * r + 1] = -2 * r + 1; }
    const x = tensor(data, [rows, 2]);
    const s = o.sum(x, 1);
    const got = await s.read();
    expect(got.length).toBe(rows);
    let bad = -1;
    for (let r = 0; r < rows && bad < 0; r++) if (got[r] !== 1 - r) bad = r;
    expect(bad, `first wrong row ${bad}: ${got[bad]}`).toBe(-1);
    x.dispose();
    s.dispose();
  });

  it('a size that is not a multiple of 256 (70001 elements) is computed to the last element', async () => {
    const n = 70_001;
    const a = arange(n);
    const b = o.scaleShift(arange(n), 2, 1); // 2i + 1
    const c = o.add(a, b);
    const got = await c.read();
    let bad = -1;
    for (let i = 0; i < n && bad < 0; i++) if (got[i] !== 3 * i + 1) bad = i;
    expect(bad).toBe(-1);
    expect(got[n - 1]).toBe(3 * (n - 1) + 1);
    for (const t of [a, b, c]) t.dispose();
  });

  it('size-0 tensors: add, broadcast, sum, mean, matmul and movement do not crash', async () => {
    const e = zeros([0, 3]);
    const r = tensor([1, 2, 3]);
    const a = o.add(e, r);
    expect(a.shape).toEqual([0, 3]);
    expect((await a.read()).length).toBe(0);
    const all = o.sum(e);
    expect(all.shape).toEqual([]);
    expect(await all.item()).toBe(0);
    const s0 = o.sum(e, 0);
    expect(Array.from(await s0.read())).toEqual([0, 0, 0]);
    const s1 = o.sum(e, 1);
    expect(s1.shape).toEqual([0]);
    expect(Number.isNaN(await o.mean(e).item())).toBe(true); // 0/0, as torch.mean of an empty tensor
    expect(() => o.max(e, 0)).toThrow(/empty axis/);
    const m = o.matmul(e, zeros([3, 2]));
    expect(m.shape).toEqual([0, 2]);
    const k0 = o.matmul(zeros([2, 0]), zeros([0, 3]));
    expect(Array.from(await k0.read())).toEqual([0, 0, 0, 0, 0, 0]);
    expect(o.transpose(e).shape).toEqual([3, 0]);
    expect(o.concat([e, o.reshape(r, [1, 3])], 0).shape).toEqual([1, 3]);
    const g = o.grad((t) => o.sum(o.mul(t!, 2)), [e]);
    expect(g[0]!.shape).toEqual([0, 3]);
    for (const t of [e, r, a, all, s0, s1, m, k0, g[0]!]) t.dispose();
  });
});
