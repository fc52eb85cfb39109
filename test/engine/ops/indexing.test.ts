/**
 * Indexing ops beyond the audit's cases: the GPU compaction against a CPU count over sizes around the scan's
 * blocks and levels, its single readback, masked_select and row selection, out-of-range indices, the
 * deterministic resolution of duplicates under many contending threads, int32 data moved word for word, the
 * one-dispatch write-back, argument errors, and that nothing leaks.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { tensor, zeros } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import { CpuRandom } from '../../../engine/ref/random.js';
import * as o from '../../../engine/ops/index.js';
import { scanLevels } from '../../../kernels/scan.js';

const dev = useDevice();

const OPS = ['gather', 'index_select', 'scatter', 'scatter_add', 'index_copy', 'index_add', 'masked_select'];

/** The compaction computed on the CPU: true positions in order, then -1s. */
function cpuCompact(mask: ArrayLike<number>): { indices: number[]; count: number } {
  const picked: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) picked.push(i);
  return { indices: [...picked, ...new Array<number>(mask.length - picked.length).fill(-1)], count: picked.length };
}

function randomMask(n: number, p: number, seed: number): Float32Array {
  const rng = new CpuRandom(seed);
  return Float32Array.from({ length: n }, () => (rng.next() < p ? 1 : 0));
}

async function expectCompacts(mask: Float32Array | Int32Array | Uint32Array): Promise<void> {
  const m = tensor(mask, [mask.length], { dtype: mask instanceof Float32Array ? 'float32' : mask instanceof Int32Array ? 'int32' : 'uint32' });
  const { indices, count } = o.compactIndices(m);
  const want = cpuCompact(mask);
  expect(await count.item(), 'count').toBe(want.count);
  const got = Array.from(await indices.read());
  const bad = got.findIndex((v, i) => v !== want.indices[i]);
  expect(bad, bad >= 0 ? `indices[${bad}] is ${got[bad]}, expected ${want.indices[bad]}` : '').toBe(-1);
  expect(got.length).toBe(mask.length);
  for (const t of [m, indices, count]) t.dispose();
}

describe('audit', () => {
  it.each(OPS)('%s passes the audit (GPU vs float64 reference, reference vs finite differences)', async (op) => {
    const [row] = await runAudit(dev(), { ops: [op] });
    expect(row!.failures).toEqual([]);
    expect(row!.pass).toBe(true);
    expect(row!.cases).toBeGreaterThan(5);
  });
});

describe('compactIndices', () => {
  it('uses two scan levels up to 2^20 elements and a third beyond', () => {
    expect(scanLevels(1)).toEqual([1, 1]);
    expect(scanLevels(1024)).toEqual([1024, 1]);
    expect(scanLevels(1025)).toEqual([1025, 2]);
    expect(scanLevels(1 << 20)).toEqual([1 << 20, 1024]);
    expect(scanLevels((1 << 20) + 1)).toEqual([(1 << 20) + 1, 1025, 2]);
  });

  it.each([1, 255, 256, 257, 1023, 1024, 1025, 70000])('compacts a random mask of %i elements like the CPU', async (n) => {
    await expectCompacts(randomMask(n, 0.4, n));
  });

  it('compacts across three scan levels (2^20 + 3 elements)', async () => {
    await expectCompacts(randomMask((1 << 20) + 3, 0.7, 3));
  });

  it.each([1, 300, 5000])('compacts all-false and all-true masks of %i elements', async (n) => {
    await expectCompacts(new Float32Array(n));
    await expectCompacts(new Float32Array(n).fill(1));
  });

  it('reads float masks by value (-0 false, NaN and tiny values true) and integer masks as nonzero words', async () => {
    await expectCompacts(Float32Array.from([0, -0, NaN, 1e-40, -3, 0, Infinity, 0.5]));
    const words = Int32Array.from([0, 7, -1, 0, 0, 1 << 31, 2, 0, 0]);
    await expectCompacts(words);
    await expectCompacts(Uint32Array.from(words));
    const { indices, count } = o.compactIndices(tensor(Float32Array.from([0, -0, NaN, 1e-40, 1])));
    expect(Array.from(await indices.read())).toEqual([2, 3, 4, -1, -1]);
    expect(await count.item()).toBe(3);
  });

  it('takes a comparison result as mask, and an empty one', async () => {
    const x = tensor([0.5, -1, 2, 0, 3, -2]);
    const { indices, count } = o.compactIndices(o.gt(x, 0));
    expect(Array.from(await indices.read())).toEqual([0, 2, 4, -1, -1, -1]);
    expect(await count.item()).toBe(3);
    const e = o.compactIndices(tensor([], [0]));
    expect(e.indices.shape).toEqual([0]);
    expect(await e.count.item()).toBe(0);
  });

  it('records no readback: the count costs exactly one submission when read', async () => {
    const m = tensor(randomMask(70000, 0.5, 9));
    await dev().sync();
    const before = dev().stats().submissions;
    const c = o.compactIndices(m);
    const rows = o.indexSelect(tensor(Float32Array.from({ length: 70000 }, (_, i) => i), [70000, 1]), 0, o.slice(c.indices, 0, 0, 10), { unique: true });
    expect(dev().stats().submissions - before).toBe(0);
    const count = await c.count.item();
    expect(dev().stats().submissions - before).toBe(1);
    expect(count).toBe(cpuCompact(await m.read()).count);
    expect(Array.from(await rows.read())).toEqual(cpuCompact(await m.read()).indices.slice(0, 10));
  });
});

describe('masked_select', () => {
  it('selects like torch.masked_select, with the count read once (async) or given (sync)', async () => {
    const xs = Float32Array.from({ length: 3 * 257 }, (_, i) => Math.sin(i) * 10);
    const ms = randomMask(3 * 257, 0.3, 5);
    const want = [...xs].filter((_, i) => ms[i] !== 0);
    const x = tensor(xs, [3, 257]);
    const m = tensor(ms, [3, 257]);
    await dev().sync();
    const before = dev().stats().submissions;
    const y = await o.maskedSelectAsync(x, m);
    expect(dev().stats().submissions - before).toBe(1);
    expect(y.shape).toEqual([want.length]);
    expectClose(await y.read(), want, 0, 0, 'maskedSelectAsync');
    expectClose(await o.maskedSelect(x, m, { count: want.length }).read(), want, 0, 0, 'maskedSelect');
  });

  it('broadcasts the mask against x, as PyTorch does', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const y = await o.maskedSelectAsync(x, tensor([1, 0, 1]));
    expect(Array.from(await y.read())).toEqual([1, 3, 4, 6]);
  });

  it('scatters its gradient back to the selected positions, zeros elsewhere', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const m = tensor([[0, 1, 1], [1, 0, 0]]);
    const [gx] = o.grad((v) => o.sum(o.mul(o.maskedSelect(v, m, { count: 3 }), tensor([10, 20, 30]))), [x]);
    expect(Array.from(await gx!.read())).toEqual([0, 10, 20, 30, 0, 0]);
  });
});

describe('selectRows and the write-back', () => {
  it('selects the still-robust rows and writes their update back with one dispatch', async () => {
    const n = 37;
    const row = 3 * 4 * 5;
    const xs = Float32Array.from({ length: n * row }, (_, i) => i);
    const robust = randomMask(n, 0.6, 11);
    const x = tensor(xs, [n, 3, 4, 5]);
    const { rows, indices, count } = await o.selectRows(x, tensor(robust));
    const want = cpuCompact(robust);
    expect(count).toBe(want.count);
    expect(Array.from(await indices.read())).toEqual(want.indices.slice(0, count));
    expect(rows.shape).toEqual([count, 3, 4, 5]);
    expect(Array.from(await rows.read())).toEqual(want.indices.slice(0, count).flatMap((r) => Array.from(xs.subarray(r * row, (r + 1) * row))));
    const updated = o.neg(rows);
    await dev().sync();
    const d0 = dev().stats().dispatches;
    const back = o.indexCopy(x, 0, indices, updated, { unique: true });
    expect(dev().stats().dispatches - d0).toBe(1);
    const got = await back.read();
    const picked = new Set(want.indices.slice(0, count));
    const expected = Array.from(xs, (v, i) => (picked.has(Math.floor(i / row)) ? -v : v));
    expect(Array.from(got)).toEqual(expected);
  });

  it('moves int32 data word for word (labels of the selected rows)', async () => {
    const labels = Int32Array.from({ length: 9 }, (_, i) => (i * 0x01234567) | 0);
    const y = tensor(labels);
    const idx = tensor(Int32Array.from([8, 2, 5]));
    expect(Array.from(await o.indexSelect(y, 0, idx).read())).toEqual([labels[8], labels[2], labels[5]]);
    expect(Array.from(await o.gather(y, 0, idx).read())).toEqual([labels[8], labels[2], labels[5]]);
    const back = o.indexCopy(zeros([9], { dtype: 'int32' }), 0, idx, tensor(Int32Array.from([-7, 1 << 30, 3])), { unique: true });
    expect(Array.from(await back.read())).toEqual([0, 0, 1 << 30, 0, 0, 3, 0, 0, -7]);
  });
});

describe('out-of-range indices', () => {
  it('read 0 in gather and index_select, and are skipped by the scatters', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const bad = tensor(Int32Array.from([[2, -1, 0], [3, 1, 1 << 30]].flat()), [2, 3]);
    expect(Array.from(await o.gather(x, 1, bad).read())).toEqual([3, 0, 1, 0, 5, 0]);
    expect(Array.from(await o.indexSelect(x, 0, tensor(Int32Array.from([1, 2, -1]))).read())).toEqual([4, 5, 6, 0, 0, 0, 0, 0, 0]);
    const src = tensor([[10, 20, 30], [40, 50, 60]]);
    expect(Array.from(await o.scatter(x, 1, bad, src).read())).toEqual([30, 2, 10, 4, 50, 6]);
    expect(Array.from(await o.scatterAdd(x, 1, bad, src).read())).toEqual([31, 2, 13, 4, 55, 6]);
    const rows = tensor(Int32Array.from([5, 0]));
    expect(Array.from(await o.indexCopy(x, 0, rows, src).read())).toEqual([40, 50, 60, 4, 5, 6]);
    expect(Array.from(await o.indexAdd(x, 0, rows, src).read())).toEqual([41, 52, 63, 4, 5, 6]);
  });

  it('include the -1 tail of compactIndices: a fixed-size write-back needs no readback', async () => {
    const x = tensor([1, 2, 3, 4, 5]);
    const { indices } = o.compactIndices(tensor([0, 1, 0, 0, 1]));
    expect(Array.from(await o.indexCopy(x, 0, indices, tensor([10, 20, 30, 40, 50]), { unique: true }).read())).toEqual([1, 10, 3, 4, 20]);
  });
});

describe('duplicate indices', () => {
  it('overwrite deterministically with the last occurrence, under many contending threads', async () => {
    const n = 20000;
    const rng = new CpuRandom(4);
    const idx = Int32Array.from({ length: n }, () => Math.floor(rng.next() * 7));
    const srcv = Float32Array.from({ length: n }, (_, i) => i + 1);
    const last = new Array<number>(7).fill(0);
    idx.forEach((k, i) => { last[k] = srcv[i]!; });
    const want = Array.from({ length: 9 }, (_, k) => (k < 7 ? last[k]! : -1));
    for (let rep = 0; rep < 3; rep++) {
      const out = o.scatter(o.sub(zeros([9]), 1), 0, tensor(idx), tensor(srcv));
      expect(Array.from(await out.read())).toEqual(want);
      const rowsOut = o.indexCopy(o.sub(zeros([9, 2]), 1), 0, tensor(idx), tensor(Array.from(srcv).flatMap((v) => [v, -v]), [n, 2]));
      expect(Array.from(await rowsOut.read())).toEqual(want.flatMap((v) => (v === -1 ? [-1, -1] : [v, -v])));
    }
  });

  it('sum in index order, giving the same bits every time', async () => {
    const n = 3000;
    const rng = new CpuRandom(8);
    const idx = tensor(Int32Array.from({ length: n }, () => Math.floor(rng.next() * 5)));
    const src = tensor(Float32Array.from({ length: n }, () => rng.normal() * 1e3), [n, 1]);
    const first = Array.from(await o.indexAdd(zeros([5, 1]), 0, idx, src).read());
    for (let rep = 0; rep < 3; rep++) expect(Array.from(await o.indexAdd(zeros([5, 1]), 0, idx, src).read())).toEqual(first);
    // In order: a float32 running sum, as a sequential loop computes it.
    const iv = await idx.read();
    const sv = await src.read();
    const acc = new Float32Array(5);
    iv.forEach((k, i) => { acc[k] = Math.fround(acc[k]! + sv[i]!); });
    expect(first).toEqual(Array.from(acc));
  });
});

describe('argument errors', () => {
  const x = () => tensor([[1, 2, 3], [4, 5, 6]]);
  const i2 = () => tensor(Int32Array.from([0, 1, 2, 0, 1, 2]), [2, 3]);
  it.each([
    ['gather, axis out of range', () => o.gather(x(), 2, i2()), /gather: axis 2 is out of range for x of rank 2 \(expected -2\.\.1\)/],
    ['gather, float index', () => o.gather(x(), 1, tensor([[0, 1, 2], [0, 1, 2]])), /gather: index must be int32, got float32/],
    ['gather, index rank', () => o.gather(x(), 1, tensor(Int32Array.from([0, 1]))), /gather: index must have x's rank 2, got shape \[2\]/],
    ['gather, index too wide', () => o.gather(x(), 1, tensor(Int32Array.from([0, 0, 0]), [3, 1])), /gather: index\.shape\[0\] = 3 exceeds x\.shape\[0\] = 2/],
    ['gather, scalar x', () => o.gather(tensor(1, []), 0, tensor(Int32Array.from([0]))), /gather: x must have at least one dimension/],
    ['index_select, 2-D index', () => o.indexSelect(x(), 0, i2()), /index_select: index must be 1-D \[M\], got shape \[2, 3\]/],
    ['index_select, axis -3', () => o.indexSelect(x(), -3, tensor(Int32Array.from([0]))), /index_select: axis -3 is out of range/],
    ['scatter, src rank', () => o.scatter(x(), 1, i2(), tensor([1, 2, 3])), /scatter: src must have x's rank 2, got shape \[3\]/],
    ['scatter, src too small', () => o.scatter(x(), 1, i2(), tensor([[1, 2], [3, 4]])), /scatter: index\.shape\[1\] = 3 exceeds src\.shape\[1\] = 2/],
    ['scatter, src dtype', () => o.scatter(x(), 1, i2(), tensor(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3])), /scatter: src is int32, expected x's dtype float32/],
    ['scatter, reduce', () => o.scatter(x(), 1, i2(), x(), { reduce: 'mul' as 'add' }), /scatter: reduce must be 'none' or 'add', got "mul"/],
    ['scatter_add, int x', () => o.scatterAdd(zeros([2, 3], { dtype: 'int32' }), 1, i2(), x()), /scatter_add: x must be float32, got int32/],
    ['index_copy, src shape', () => o.indexCopy(x(), 0, tensor(Int32Array.from([1])), x()), /index_copy: src must have shape \[1, 3\] \(x \[2, 3\] with axis 0 of the index's length 1\), got \[2, 3\]/],
    ['index_add, float index', () => o.indexAdd(x(), 0, tensor([1]), tensor([[1, 2, 3]])), /index_add: index must be int32, got float32/],
    ['masked_select, count', () => o.maskedSelect(x(), tensor([[1, 0, 1], [0, 0, 0]]), { count: 7 }), /masked_select: count must be an integer in \[0, 6\], got 7/],
    ['masked_select, shapes', () => o.maskedSelect(x(), tensor([1, 0]), { count: 1 }), /masked_select: shapes \[2, 3\] and \[2\] cannot be broadcast/],
  ])('%s', (_, f, msg) => {
    expect(() => scope(f)).toThrow(msg);
  });

  it('selectRows wants a mask [N] for x [N, ...]', async () => {
    await expect(o.selectRows(tensor([[1, 2], [3, 4]]), tensor([1, 0, 1]))).rejects.toThrow(/selectRows: mask must be \[N\] for x of shape \[N, \.\.\.\], got mask \[3\] and x \[2, 2\]/);
  });
});

describe('memory', () => {
  it('leaks no tensors over repeated forwards, backwards and compactions', async () => {
    const x = tensor(Float32Array.from({ length: 6 * 5 }, (_, i) => i), [6, 5]);
    const idx = tensor(Int32Array.from([4, 0, 4, 2]));
    const mask = tensor(randomMask(30, 0.5, 2), [6, 5]);
    const step = () => scope(() => {
      const a = o.grad((v) => o.sum(o.indexSelect(v, 0, idx)), [x]);
      const b = o.grad((v, s) => o.sum(o.mul(o.indexCopy(v, 0, idx, s), 2)), [x, o.indexSelect(x, 0, idx)]);
      const c = o.grad((v, s) => o.sum(o.scatter(v, 1, o.reshape(idx, [1, 4]), s)), [x, tensor([[1, 2, 3, 4]])]);
      const d = o.grad((v) => o.sum(o.gather(v, 0, o.reshape(idx, [4, 1]))), [x]);
      const e = o.compactIndices(mask);
      return [...a, ...b, ...c, ...d, e.indices, e.count].length;
    });
    const round = async () => {
      step();
      (await o.maskedSelectAsync(x, mask)).dispose();
      const robust = scope(() => o.gt(o.sum(x, 1), 40));
      const r = await o.selectRows(x, robust);
      for (const t of [robust, r.rows, r.indices]) t.dispose();
      await dev().sync();
    };
    await round();
    const live = dev().stats().liveTensors;
    const pooled = dev().stats().pooledBytes;
    for (let k = 0; k < 4; k++) await round();
    expect(dev().stats().liveTensors).toBe(live);
    expect(dev().stats().pooledBytes).toBe(pooled);
  });
});
