/** Shared test helpers: one device per test file, and closeness checks that name the worst element. */
import { afterAll, beforeAll, expect } from 'vitest';
import { Device, setDefaultDevice } from '../engine/device.js';

let dev: Device | null = null;

/** Call at the top of a test file; returns a getter for the file's device. */
export function useDevice(): () => Device {
  beforeAll(async () => {
    dev = await Device.create();
    setDefaultDevice(dev);
  });
  afterAll(async () => {
    setDefaultDevice(null);
    await dev?.close();
    dev = null;
  });
  return () => dev!;
}

/** |got - want| <= atol + rtol * |want| elementwise; the message names the worst index. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = 'values'): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const excess = Number.isNaN(g) !== Number.isNaN(w) ? Infinity : Number.isNaN(w) ? 0 : Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (excess > worstExcess || (Number.isNaN(excess) && worst < 0)) { worstExcess = excess; worst = i; }
  }
  if (worst >= 0) expect.fail(`${what}: element ${worst} is ${got[worst]}, expected ${want[worst]} (atol ${atol}, rtol ${rtol})`);
}

/** got and want hold the same float32 bit patterns (so 0 and -0 differ, and NaN equals only the same NaN); names the first difference. */
export function expectSameBits(got: Float32Array, want: Float32Array, what = 'values'): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const i = a.findIndex((v, k) => v !== b[k]);
  if (i >= 0) expect.fail(`${what}: element ${i} is ${got[i]} (0x${a[i]!.toString(16)}), expected ${want[i]} (0x${b[i]!.toString(16)})`);
}
