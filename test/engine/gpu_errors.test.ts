/**
 * One GPU error must not corrupt other work: sizes are checked against the device's limits where work is
 * created, a submission WebGPU rejects leaves exactly what it would have written invalid (reading or using it
 * throws naming the failed kernel), and labels are range-checked on the GPU, thrown at the next read.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { tensor, zeros, ones } from '../../engine/create.js';
import { DeviceLimitError, InvalidTensorError } from '../../engine/device.js';
import { SubmissionError } from '../../engine/recorder.js';
import { RangeCheckError } from '../../engine/range_errors.js';
import { copyInto } from '../../engine/inplace.js';
import { rand, randn, Generator } from '../../engine/rng.js';
import { scope } from '../../engine/scope.js';
import { withOp } from '../../engine/op_context.js';
import { grad } from '../../engine/ops/index.js';
import * as o from '../../engine/ops/index.js';
import { cwMargin, dlrTargeted } from '../../engine/ops/attack_losses.js';
import { squareAccept } from '../../engine/ops/square_attack.js';
import { Kernel, KernelCompileError } from '../../kernels/kernel.js';
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

/** Passes every check made when it is recorded, and fails to compile: its submission is rejected. */
const brokenKernel = (name: string): Kernel => new Kernel(name, `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1, 1, 1)
fn main() { let v: f32 = 1u; y[0] = v; }`);

/** Records a dispatch whose bind group WebGPU refuses (a storage offset off the 256-byte alignment). */
function poison(target: Tensor): void {
  dev().run(probe, { buffers: { y: { buffer: target.storage.buffer, offset: 4, size: 4 } }, workgroups: [1, 1, 1] });
}

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(() => expect.fail('expected a rejection'), (e: unknown) => e as Error);
}

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

describe('a submission WebGPU rejects invalidates exactly what it would have written', () => {
  it('tensors written by the failed submission throw on read naming the failed kernel; tensors uploaded or computed before read fine', async () => {
    const before = tensor([1, 2, 3]);
    const done = o.mul(before, 2);
    expectClose(await done.read(), [2, 4, 6]);
    // Recorded together, submitted together: the broken kernel sinks the whole submission.
    const a = o.add(before, 1);
    const victim = tensor([7, 7]);
    dev().run(brokenKernel('broken_write'), { buffers: { y: victim.storage.binding() }, workgroups: [1, 1, 1] });
    const b = o.mul(before, 3);
    await expect(b.read()).rejects.toThrow(KernelCompileError);
    for (const [name, t] of [['a', a], ['b', b], ['victim', victim]] as const) {
      const e = await rejection(t.read());
      expect(e, name).toBeInstanceOf(InvalidTensorError);
      expect(e.message, name).toMatch(/^read: tensor #\d+ \(float32 \[\d\]\) holds no valid data: submission #\d+ \(3 dispatches: \w+ x2, broken_write\): kernel 'broken_write' failed: /);
    }
    expectClose(await before.read(), [1, 2, 3], 0, 0, 'uploaded before');
    expectClose(await done.read(), [2, 4, 6], 0, 0, 'computed and submitted before');
    // Using an invalid tensor is refused when recorded, naming the op and why.
    const n = dev().stats().dispatches;
    expect(() => o.exp(a)).toThrow(/^exp: kernel '\w+': binding '\w+' holds no valid data: submission #\d+ .*kernel 'broken_write' failed/);
    expect(() => o.add(before, a)).toThrow(InvalidTensorError);
    expect(dev().stats().dispatches).toBe(n);
    // Overwriting it whole makes it valid again (a checkpoint loaded after a failure), and work goes on.
    copyInto(a, before);
    expectClose(await a.read(), [1, 2, 3], 0, 0, 'rewritten');
    expectClose(await o.mul(a, 4).read(), [4, 8, 12], 0, 0, 'later work');
    for (const t of [before, done, a, b, victim]) t.dispose();
  });

  it('an invalid bind group (an uncaptured error) fails the submission, and the error names the kernel and the op that recorded it', async () => {
    const x = tensor([1, 2]);
    const victim = zeros([2]);
    const y = o.neg(x);
    poison(victim);
    const e = await rejection(y.read());
    expect(e).toBeInstanceOf(SubmissionError);
    expect(e.message).toMatch(/^WebGPU rejected submission #\d+ \(\d+ dispatches: .*probe_write.*\): kernel 'probe_write' failed: \[Invalid BindGroup "probe_write"\]/);
    expect(e.message).toMatch(/the 2 tensor\(s\) it would have written are now invalid/);
    expect(e.message).toMatch(/Also reported:\n\(uncaptured, while recording kernel 'probe_write'\) Offset \(4\)/);
    await expect(victim.read()).rejects.toThrow(/holds no valid data: .*kernel 'probe_write' failed/);
    await expect(y.read()).rejects.toThrow(InvalidTensorError);
    expectClose(await x.read(), [1, 2], 0, 0, 'the uploaded input');
    // Recorded by an op, the op is named.
    const z = zeros([2]);
    withOp('some_op', () => poison(z));
    await expect(z.read()).rejects.toThrow(/kernel 'probe_write' \(op some_op\) failed/);
    for (const t of [x, victim, y, z]) t.dispose();
  });

  it('work recorded after the failed submission but before its failure was known is invalid too: it may have read stale outputs', async () => {
    const x = tensor([1, 2]);
    const y = o.mul(x, 2);
    poison(zeros([1]));
    dev().flush();
    const z = o.add(y, 1); // reads y, which the rejected submission never wrote
    await expect(z.read()).rejects.toThrow(SubmissionError);
    await expect(y.read()).rejects.toThrow(/holds no valid data: submission #\d+ .*kernel 'probe_write' failed/);
    await expect(z.read()).rejects.toThrow(/holds no valid data: it was recorded after submission #\d+ .*kernel 'probe_write' failed: .*, whose outputs it may have read/);
    expectClose(await o.add(x, 1).read(), [2, 3], 0, 0, 'work recorded after the failure is known');
    for (const t of [x, y, z]) t.dispose();
  });

  it("a recycled buffer belongs to its new tensor: a failure marks the tensors, not the buffers", async () => {
    const x = tensor([1, 2, 3]);
    const doomed = o.mul(x, 5);
    const buffer = doomed.storage.buffer;
    poison(zeros([1]));
    doomed.dispose(); // its buffer rejoins the pool after the submit
    await expect(x.read()).rejects.toThrow(SubmissionError);
    const made: Tensor[] = [];
    let reuse: Tensor | null = null;
    for (let i = 0; i < 64 && !reuse; i++) {
      const t = tensor([4, 5, 6]);
      if (t.storage.buffer === buffer) reuse = t;
      else made.push(t);
    }
    expect(reuse, "the pool hands the doomed tensor's buffer out again").not.toBeNull();
    expectClose(await reuse!.read(), [4, 5, 6], 0, 0, 'the new tensor on the recycled buffer');
    expectClose(await o.add(reuse!, x).read(), [5, 7, 9], 0, 0, 'and work on it');
    for (const t of [x, reuse!, ...made]) t.dispose();
  });
});

describe('labels are range-checked on the GPU and thrown at the next read', () => {
  const z = () => tensor(Array.from({ length: 50 }, (_, i) => Math.sin(i)), [5, 10]);
  const ceRows = (zv: number[], y: number[]) => y.map((l, r) => {
    const row = zv.slice(10 * r, 10 * r + 10);
    const m = Math.max(...row);
    return m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[l]!;
  });

  it.each([-1, 10, 2 ** 31 - 1])('cross_entropy with label %i at index 3 throws naming the op, the index and the label; the next read works', async (bad) => {
    const zt = z();
    const loss = o.crossEntropy(zt, labelsOf([0, 1, 2, bad, 4]));
    const e = await rejection(loss.read());
    expect(e).toBeInstanceOf(RangeCheckError);
    expect(e.message).toBe(`cross_entropy: label ${bad} at index 3 is out of range [0, 10)`);
    const good = [0, 1, 2, 3, 4];
    const ok = o.crossEntropy(zt, labelsOf(good), { reduction: 'none' });
    expectClose(await ok.read(), ceRows(Array.from(await zt.read()), good), 1e-5, 1e-5, 'a valid loss after the error');
    // What the bad row holds is defined: NaN, so nothing trains on it silently.
    expect(Number.isNaN((await loss.read())[0]!)).toBe(true);
    for (const t of [zt, loss, ok]) t.dispose();
  });

  it("cross_entropy's backward checks its labels too", async () => {
    const zt = z();
    const y = labelsOf([0, 1, 2, 3, 11]);
    const [gz] = grad((v) => o.crossEntropy(v, y), [zt]);
    await expect(gz!.read()).rejects.toThrow('cross_entropy: label 11 at index 4 is out of range [0, 10)');
    for (const t of [zt, y, gz!]) t.dispose();
  });

  it('several bad labels: the message names the first index, the count, and a bad label with its index', async () => {
    const zt = z();
    const loss = o.crossEntropy(zt, labelsOf([0, 12, 1, -1, 12]), { reduction: 'none' });
    const m = (await rejection(loss.read())).message;
    expect(m).toMatch(/^cross_entropy: (label 12 at index 1 is out of range \[0, 10\); 3 labels were out of range|3 labels out of range \[0, 10\), the first at index 1 \(label (-1 at index 3|12 at index 4)\))$/);
    for (const t of [zt, loss]) t.dispose();
  });

  it.each(['dlr', 'redlr'] as const)('%s with label K or -1 throws naming the op, the index and the label', async (op) => {
    const zt = z();
    const f = op === 'dlr' ? o.dlr : o.redlr;
    for (const bad of [10, -1]) {
      const loss = f(zt, labelsOf([0, bad, 2, 3, 4]));
      await expect(loss.read()).rejects.toThrow(`${op} (kernel margin): label ${bad} at index 1 is out of range [0, 10)`);
      loss.dispose();
    }
    const ok = f(zt, labelsOf([0, 1, 2, 3, 4]));
    expect((await ok.read()).every(Number.isFinite)).toBe(true);
    for (const t of [zt, ok]) t.dispose();
  });

  it('the attack margins (cw_margin, dlr_targeted, read through gather) and Square\'s acceptance check labels and targets', async () => {
    const zt = z();
    const good = labelsOf([0, 1, 2, 3, 4]);
    const cases: [string, () => Tensor][] = [
      ['cw_margin (kernel check_labels): label 10 at index 1', () => cwMargin(zt, labelsOf([0, 10, 2, 3, 4]))],
      ['cw_margin (kernel check_labels): label -1 at index 4', () => cwMargin(zt, good, labelsOf([5, 6, 7, 8, -1]))],
      ['dlr_targeted (kernel check_labels): label 12 at index 2', () => dlrTargeted(zt, good, labelsOf([5, 6, 12, 8, 9]))],
      ['square_accept: label 10 at index 0', () => {
        const f = zeros([5, 3]);
        const r = squareAccept(zt, labelsOf([10, 1, 2, 3, 4]), f, f, zeros([5]), ones([5]));
        r.best.dispose();
        r.open.dispose();
        return r.loss;
      }],
    ];
    for (const [message, run] of cases) {
      const t = run();
      await expect(t.read(), message).rejects.toThrow(`${message} is out of range [0, 10)`);
      t.dispose();
    }
    const ok = cwMargin(zt, good, labelsOf([5, 6, 7, 8, 9]));
    expect((await ok.read()).every(Number.isFinite), 'valid labels read fine after the errors').toBe(true);
    for (const t of [zt, good, ok]) t.dispose();
  });

  it('a range-checked kernel adds no submission to a read (its error words travel in the same staging copy)', async () => {
    const zt = z();
    const y = labelsOf([0, 1, 2, 3, 4]);
    await zt.read();
    for (const checked of [false, true]) {
      const loss = checked ? o.crossEntropy(zt, y, { reduction: 'none' }) : o.neg(zt);
      const s0 = dev().stats().submissions;
      await loss.read();
      expect(dev().stats().submissions - s0, checked ? 'cross_entropy' : 'neg').toBe(1);
      loss.dispose();
    }
    for (const t of [zt, y]) t.dispose();
  });
});
