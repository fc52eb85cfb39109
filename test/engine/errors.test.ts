/**
 * Error messages are part of the interface: each names the op or kernel, the offending shapes or dtypes,
 * and what was expected, so a user can fix the call without reading engine code.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor, full } from '../../engine/create.js';
import { Device, DeviceLostError } from '../../engine/device.js';
import { scope } from '../../engine/scope.js';
import { Kernel, KernelCompileError } from '../../kernels/kernel.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

/** The thrown error's message (fails if nothing is thrown). */
function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  expect.fail('expected a throw');
}

describe('shape errors', () => {
  it('add of [2,3] and [4] names the op and both shapes', () => {
    const [a, b] = [tensor([[1, 2, 3], [4, 5, 6]]), tensor([1, 2, 3, 4])];
    const m = messageOf(() => o.add(a, b));
    expect(m).toMatch(/add/);
    expect(m).toContain('[2, 3]');
    expect(m).toContain('[4]');
    expect(() => o.add(a, b)).toThrow(RangeError);
    a.dispose();
    b.dispose();
  });

  it('matmul with different inner dimensions names both shapes and the two K', () => {
    const [a, b] = [tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(20), [4, 5])];
    const m = messageOf(() => o.matmul(a, b));
    expect(m).toMatch(/^matmul: inner dimensions differ/);
    expect(m).toContain('[2, 3]');
    expect(m).toContain('[4, 5]');
    expect(m).toMatch(/K=3.*K=4/);
    // With transB the same b is [5,4] logically: K=4 still differs from 3, and the message says transposed.
    expect(messageOf(() => o.matmul(a, b, { transB: true }))).toMatch(/\[4, 5\] \(transposed\) has K=5/);
    a.dispose();
    b.dispose();
  });

  it('reshape to a different element count names both shapes', () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    expect(() => o.reshape(a, [4, 2])).toThrow(/reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
    expect(() => o.reshape(a, [-1, -1])).toThrow(/at most one -1/);
    a.dispose();
  });

  it('a failed op leaks nothing', () => {
    const [a, b] = [tensor([1, 2, 3]), tensor([1, 2])];
    const before = dev().stats().liveTensors;
    expect(() => o.maximum(a, b)).toThrow(/maximum/);
    expect(() => o.div(a, b)).toThrow(/div/);
    expect(dev().stats().liveTensors).toBe(before);
    a.dispose();
    b.dispose();
  });
});

describe('tensor state and dtype errors', () => {
  it('reading or using a disposed tensor says it was disposed', async () => {
    const a = tensor([1, 2]);
    a.dispose();
    a.dispose(); // idempotent
    await expect(a.read()).rejects.toThrow(/read: tensor #\d+ \(float32 \[2\]\) has been disposed/);
    expect(() => o.exp(a)).toThrow(/exp \(input 0\): tensor #\d+ .* has been disposed/);
  });

  it('an int32 input to exp says float32 was expected', () => {
    const i = tensor(new Int32Array([1, 2]));
    const m = messageOf(() => o.exp(i));
    expect(m).toMatch(/exp: input 0 must be float32, got int32/);
    expect(() => o.exp(i)).toThrow(TypeError);
    i.dispose();
  });

  it('item() on a tensor of several elements names its shape', async () => {
    const a = tensor([1, 2, 3]);
    await expect(a.item()).rejects.toThrow(/item: tensor #\d+ has 3 elements \(shape \[3\]\), expected 1/);
    a.dispose();
  });

  it('bad creation arguments are refused with the reason', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/shape \[2, 2\] needs 4 values, got 3/);
    expect(() => full([2, -1], 0)).toThrow(/non-negative integers/);
    expect(() => full([2], 0, { dtype: 'float64' as never })).toThrow(/float32, int32, uint32.*float64/);
  });
});

describe('kernel and device errors', () => {
  it('a WGSL validation error surfaces naming the kernel, and the device keeps working', async () => {
    // Parses (wgsl_reflect accepts it) but fails WGSL type checking: a u32 initialises an f32.
    const src = `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1, 1, 1)
fn main() {
  let x: f32 = 1u;
  y[0] = x;
}`;
    const k = new Kernel('broken_kernel', src);
    expect(k.bindings).toEqual([{ name: 'y', binding: 0, kind: 'read_write' }]);
    const t = tensor([0, 0]);
    dev().run(k, { buffers: { y: t.storage.binding() }, workgroups: [1, 1, 1] });
    const err = await dev().sync().then(() => null, (e: unknown) => e as Error);
    expect(err, 'sync must reject').not.toBeNull();
    expect(err).toBeInstanceOf(KernelCompileError);
    expect(err!.message).toMatch(/kernel 'broken_kernel'.*failed to compile/);
    t.dispose();

    // The error was reported once; later work on the same device runs and syncs cleanly.
    const a = tensor([1, 2, 3]);
    const b = o.mul(a, a);
    await expect(dev().sync()).resolves.toBeUndefined();
    expectClose(await b.read(), [1, 4, 9]);
    a.dispose();
    b.dispose();
  });

  it('WGSL that does not parse is refused at construction, naming the kernel', () => {
    expect(() => new Kernel('garbled_kernel', '@compute fn main( {')).toThrow(/kernel 'garbled_kernel'/);
  });

  it('after device.destroy(), every use throws DeviceLostError mentioning "lost"', async () => {
    const d = await Device.create();
    const a = tensor([1, 2], undefined, { device: d });
    const b = o.add(a, a);
    expectClose(await b.read(), [2, 4]);
    d.destroy();
    expect(() => tensor([1], undefined, { device: d })).toThrow(DeviceLostError);
    expect(() => tensor([1], undefined, { device: d })).toThrow(/lost/);
    expect(() => o.mul(a, a)).toThrow(DeviceLostError);
    await expect(b.read()).rejects.toThrow(DeviceLostError);
    await expect(d.sync()).rejects.toThrow(/lost/);
    // Disposing after loss is harmless (no buffer goes back to a dead pool).
    expect(() => { a.dispose(); b.dispose(); }).not.toThrow();
    // The file's own device is unaffected.
    const c = tensor([3]);
    expect(await c.item()).toBe(3);
    c.dispose();
  });
});

describe('scope misuse', () => {
  it('scope(async () => ...) is refused, and what it created is disposed', async () => {
    let inner: ReturnType<typeof tensor> | null = null;
    const before = dev().stats().liveTensors;
    const m = messageOf(() => scope(async () => { inner = tensor([1]); return inner; }));
    expect(m).toMatch(/scopes are synchronous/);
    expect(inner!.disposed).toBe(true);
    expect(dev().stats().liveTensors).toBe(before);
  });

  it('a throw inside scope disposes what the scope created and rethrows', () => {
    const before = dev().stats().liveTensors;
    expect(() => scope(() => { tensor([1, 2]); throw new Error('inner failure'); })).toThrow('inner failure');
    expect(dev().stats().liveTensors).toBe(before);
  });
});

describe('NaN propagates as in PyTorch (on lavapipe too, which folds v != v to false)', () => {
  it('through maximum/minimum, clamp, and max/argmax reductions', async () => {
    const { tensor } = await import('../../engine/create.js');
    const o = await import('../../engine/ops/index.js');
    const x = tensor([1, NaN, 3]);
    expect(Array.from(await o.maximum(x, tensor([2, 2, 2])).read()).map(Number.isNaN)).toEqual([false, true, false]);
    expect(Array.from(await o.minimum(x, tensor([2, 2, 2])).read()).map(Number.isNaN)).toEqual([false, true, false]);
    expect(Array.from(await o.clamp(x, 0, 2).read()).map(Number.isNaN)).toEqual([false, true, false]);
    expect(Number.isNaN(await o.max(x).item())).toBe(true);
    expect(await o.argmax(x, 0).item()).toBe(1);
  });
});
