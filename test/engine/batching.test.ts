/**
 * Command batching: ops are recorded into one command encoder and submitted on readback (or at the
 * safety cap), not one submit per op; and a buffer released while recorded work may still read it is not
 * handed out again before that work is submitted.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import { Device } from '../../engine/device.js';
import { scope } from '../../engine/scope.js';
import type { Tensor } from '../../engine/tensor.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

/** 50 elementwise ops, one dispatch each, alternating binary (x + b) and unary (x * 0.5 + 1) kernels. */
function chain(x: Tensor, b: Tensor, n: number): Tensor {
  return scope(() => {
    let y = x;
    for (let i = 0; i < n; i++) y = i % 2 === 0 ? o.add(y, b) : o.scaleShift(y, 0.5, 1);
    return y;
  });
}

/** The same chain on the CPU in float32. */
function chainRef(x: number[], b: number[], n: number): number[] {
  return x.map((v, j) => {
    let y = v;
    for (let i = 0; i < n; i++) y = Math.fround(i % 2 === 0 ? y + b[j]! : y * 0.5 + 1);
    return y;
  });
}

describe('batching', () => {
  it('50 elementwise ops then one read: 50 dispatches, one submission', async () => {
    const x = tensor([1, 2, 3, 4]);
    const b = tensor([0.25, -1, 2, 0]);
    await dev().sync(); // nothing left open from setup
    const s0 = dev().stats();
    const y = chain(x, b, 50);
    const s1 = dev().stats();
    expect(s1.dispatches - s0.dispatches).toBe(50);
    expect(s1.submissions - s0.submissions, 'recording submits nothing').toBe(0);
    const got = await y.read();
    const s2 = dev().stats();
    expect(s2.submissions - s0.submissions).toBeGreaterThanOrEqual(1);
    expect(s2.submissions - s0.submissions).toBeLessThanOrEqual(2);
    expect(s2.dispatches - s1.dispatches, 'the read dispatches no kernel').toBe(0);
    expectClose(got, chainRef([1, 2, 3, 4], [0.25, -1, 2, 0], 50), 1e-6, 1e-6);
    for (const t of [x, b, y]) t.dispose();
  });

  it('maxDispatchesPerSubmit caps a batch: 20 ops with a cap of 8 submit at least 3 times and stay correct', async () => {
    const d = await Device.create({ maxDispatchesPerSubmit: 8 });
    try {
      const x = tensor([1, -2, 3], undefined, { device: d });
      const b = tensor([0.5, 0.5, -4], undefined, { device: d });
      const s0 = d.stats();
      const y = chain(x, b, 20);
      // Submits are forced while recording: before dispatch 9 and 17.
      expect(d.stats().submissions - s0.submissions).toBe(2);
      const got = await y.read();
      expect(d.stats().dispatches - s0.dispatches).toBe(20);
      expect(d.stats().submissions - s0.submissions).toBeGreaterThanOrEqual(Math.ceil(20 / 8));
      expectClose(got, chainRef([1, -2, 3], [0.5, 0.5, -4], 20), 1e-6, 1e-6);
    } finally {
      await d.close();
    }
  });

  it('a buffer released while an op reading it is unsubmitted is not reused before the submit', async () => {
    await dev().sync();
    const data1 = [1, 2, 3, 4, 5];
    const data2 = [100, 200, 300, 400, 500];
    const t1 = tensor(data1);
    const buf1 = t1.storage.buffer;
    const y = o.scaleShift(t1, 2, 0); // recorded, not submitted
    expect(dev().recorder.open).toBe(true);
    t1.dispose(); // its buffer is released while the encoder still reads it
    // Same size class: without the pending list the pool would hand buf1 out here, and the upload
    // (a queue write, which runs before the unsubmitted encoder) would overwrite t1's data.
    const t2 = tensor(data2);
    expect(t2.storage.buffer).not.toBe(buf1);
    expectClose(await y.read(), data1.map((v) => 2 * v));
    expectClose(await t2.read(), data2);
    // After the submit the buffer is free again and is reused: the check above was not vacuous.
    const t3 = tensor([7, 7, 7, 7, 7]);
    expect(t3.storage.buffer).toBe(buf1);
    expectClose(await t3.read(), [7, 7, 7, 7, 7]);
    for (const t of [y, t2, t3]) t.dispose();
  });

  it('a buffer released with no work recorded is reused at once', async () => {
    await dev().sync();
    expect(dev().recorder.open).toBe(false);
    const t1 = tensor([1, 2, 3]);
    const buf = t1.storage.buffer;
    t1.dispose();
    const t2 = tensor([4, 5, 6]);
    expect(t2.storage.buffer).toBe(buf);
    expectClose(await t2.read(), [4, 5, 6]);
    t2.dispose();
  });

  it('reads interleaved with recording see every earlier op (submission order is program order)', async () => {
    const x = tensor([1, 2]);
    const a = o.mul(x, 3);
    const ra = a.read(); // not awaited yet
    const b = o.add(a, 1);
    expectClose(await ra, [3, 6]);
    expectClose(await b.read(), [4, 7]);
    for (const t of [x, a, b]) t.dispose();
  });
});
