import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor } from '../../engine/create.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

describe('smoke', () => {
  it('adds, multiplies and reduces', async () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]]);
    const b = tensor([10, 20, 30]);
    const c = o.add(a, b);
    expectClose(await c.read(), [11, 22, 33, 14, 25, 36]);
    expectClose(await o.sum(c, 1).read(), [66, 75]);
    expectClose(await o.matmul(a, a, { transB: true }).read(), [14, 32, 32, 77]);
    expect(dev().stats().dispatches).toBeGreaterThan(0);
  });
  it('differentiates', async () => {
    const x = tensor([1, 2, 3]);
    const [g] = o.grad((t) => o.sum(o.mul(t, t)), [x]);
    expectClose(await g!.read(), [2, 4, 6]);
  });
});
