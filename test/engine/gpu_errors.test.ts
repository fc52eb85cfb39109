/**
 * One GPU error must not corrupt other work: sizes are checked against the device's limits where work is
 * created, a submission WebGPU rejects leaves exactly what it would have written invalid (reading or using it
 * throws naming the failed kernel), and labels are range-checked on the GPU, thrown at the next read.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor, zeros, ones } from '../../engine/create.js';
import { DeviceLimitError } from '../../engine/device.js';
import { rand, randn, Generator } from '../../engine/rng.js';
import { scope } from '../../engine/scope.js';
import * as o from '../../engine/ops/index.js';
import { Kernel } from '../../kernels/kernel.js';
import { SmallCNN } from '../../nn/models/index.js';
import { SGD } from '../../engine/optim/index.js';
import type { Tensor } from '../../engine/tensor.js';

const dev = useDevice();
const bindingLimit = (): number => dev().info.limits.maxStorageBufferBindingSize!;
const labelsOf = (v: number[]): Tensor => tensor(new Int32Array(v));

/** y[0] = 1: the smallest kernel with a written binding. */
const probe = new Kernel('probe_write', `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1, 1, 1)
fn main() { y[0] = 1.0; }`);

describe('sizes are checked against the device limits where work is created', () => {
  it('a tensor larger than maxStorageBufferBindingSize is refused at creation, naming the shape, bytes and limit, allocating nothing', () => {
    const n = bindingLimit() / 4 + 1;
    const before = dev().stats();
    expect(() => zeros([n])).toThrow(DeviceLimitError);
    expect(() => zeros([n])).toThrow(new RegExp(`^full: a float32 tensor of shape \\[${n}\\] needs ${4 * n} bytes \\(.* MiB\\), more than this device's maxStorageBufferBindingSize of ${bindingLimit()} bytes`));
    expect(() => randn([1, n])).toThrow(new RegExp(`^randn: a float32 tensor of shape \\[1, ${n}\\]`));
    const after = dev().stats();
    expect(after.buffersCreated, 'buffers created').toBe(before.buffersCreated);
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.dispatches).toBe(before.dispatches);
  });

  it("an op whose output would be too large is refused naming the op and the output's shape, recording nothing", async () => {
    const side = Math.ceil(Math.sqrt(bindingLimit() / 4 + 1));
    const [a, b] = [ones([side, 1]), ones([1, side])];
    const before = dev().stats();
    expect(() => o.matmul(a, b)).toThrow(new RegExp(`^matmul: a float32 tensor of shape \\[${side}, ${side}\\] needs ${4 * side * side} bytes .* maxStorageBufferBindingSize of ${bindingLimit()}`));
    expect(dev().stats().dispatches).toBe(before.dispatches);
    expect(dev().stats().liveTensors).toBe(before.liveTensors);
    await expect(dev().sync()).resolves.toBeUndefined();
    a.dispose();
    b.dispose();
  });

  it('a dispatch beyond maxComputeWorkgroupsPerDimension or with a binding beyond maxStorageBufferBindingSize is refused naming the kernel', async () => {
    const t = zeros([4]);
    const max = dev().info.limits.maxComputeWorkgroupsPerDimension!;
    const before = dev().stats().dispatches;
    expect(() => dev().run(probe, { buffers: { y: t.storage.binding() }, workgroups: [1, max + 1, 1] }))
      .toThrow(new RegExp(`^kernel 'probe_write': ${max + 1} workgroups along y \\(grid \\[1, ${max + 1}, 1\\]\\) exceed this device's maxComputeWorkgroupsPerDimension of ${max}`));
    expect(() => dev().run(probe, { buffers: { y: { buffer: t.storage.buffer, size: bindingLimit() + 4 } }, workgroups: [1, 1, 1] }))
      .toThrow(new RegExp(`^kernel 'probe_write': binding 'y' is ${bindingLimit() + 4} bytes .* maxStorageBufferBindingSize of ${bindingLimit()} bytes`));
    expect(() => dev().run(probe, { buffers: { y: t.storage.binding() }, workgroups: [1.5, 1, 1] })).toThrow(/workgroup count x must be a non-negative integer, got 1.5/);
    expect(dev().stats().dispatches).toBe(before);
    await expect(dev().sync()).resolves.toBeUndefined();
    expectClose(await t.read(), [0, 0, 0, 0]);
    t.dispose();
  });

  it('a buffer written by a dispatch and bound to it twice is refused naming both bindings', () => {
    const k = new Kernel('alias_probe', `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1, 1, 1)
fn main() { y[0] = x[0]; }`);
    const t = zeros([2]);
    expect(() => dev().run(k, { buffers: { x: t.storage.binding(), y: t.storage.binding() }, workgroups: [1, 1, 1] }))
      .toThrow(/kernel 'alias_probe': binding 'y' is written and 'x' binds the same buffer/);
    t.dispose();
  });

  it('an oversize tensor in the middle of a training step is refused; the weights stay readable and equal to an untroubled twin, and the next step works', async () => {
    const x = rand([4, 1, 28, 28], { generator: new Generator(21) });
    const y = labelsOf([1, 7, 3, 9]);
    const twin = () => {
      const m = new SmallCNN({ generator: new Generator(5) });
      return { m, opt: new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 }) };
    };
    const [troubled, calm] = [twin(), twin()];
    const side = Math.ceil(Math.sqrt(bindingLimit() / 4 + 1));
    const step = (t: ReturnType<typeof twin>, oversize: boolean) => scope(() => {
      const l = o.crossEntropy(t.m.forward(x), y);
      l.backward();
      if (oversize) expect(() => o.mul(o.matmul(ones([side, 1]), ones([1, side])), 2)).toThrow(/^matmul: a float32 tensor of shape .* maxStorageBufferBindingSize/);
      t.opt.step();
      t.opt.zeroGrad();
      return l.detach();
    });
    const initial = await troubled.m.parameters()[0]!.read();
    const [l1, l1calm] = [step(troubled, true), step(calm, false)];
    expect(await l1.item()).toBeCloseTo(await l1calm.item(), 5);
    const [pt, pc] = [troubled.m.parameters(), calm.m.parameters()];
    for (let i = 0; i < pt.length; i++) expectClose(await pt[i]!.read(), await pc[i]!.read(), 1e-6, 1e-5, `parameter ${i} after the step`);
    expect(Array.from(await pt[0]!.read()).some((v, i) => v !== initial[i]), 'the step updated the weights').toBe(true);
    const [l2, l2calm] = [step(troubled, false), step(calm, false)];
    expect(await l2.item()).toBeCloseTo(await l2calm.item(), 5);
    expect(await l2.item()).toBeLessThan(await l1.item());
    for (const t of [troubled, calm]) { t.opt.dispose(); t.m.dispose(); }
    for (const t of [x, y, l1, l1calm, l2, l2calm]) t.dispose();
  });
});
