import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { Conv2d, BatchNorm2d, Activation, Flatten, Linear, Sequential } from '../../nn/layers/index.js';
import { saveCheckpoint, loadCheckpoint, CheckpointError } from '../../nn/checkpoint.js';
import { readSafetensors, writeSafetensors, type StTensor } from '../../nn/safetensors.js';
import { Adam, SGD } from '../../engine/optim/index.js';
import { Generator, randn } from '../../engine/rng.js';
import { crossEntropy } from '../../engine/ops/index.js';
import { tensor } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';

useDevice();
const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));

function net(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Conv2d(1, 4, 3, { padding: 1, generator: g }), new BatchNorm2d(4), new Activation('silu'), new Flatten(), new Linear(4 * 5 * 5, 3, { generator: g }));
}

async function snapshot(m: Sequential): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, t] of m.stateDict()) out.set(k, Array.from(await t.read()));
  return out;
}

/** One SGD training step on a fixed batch drawn from `gen`. */
function trainStep(m: Sequential, opt: SGD, gen: Generator): void {
  scope(() => {
    const x = randn([2, 1, 5, 5], { generator: gen });
    const loss = crossEntropy(m.train().forward(x), tensor(Int32Array.of(0, 2), [2]));
    loss.backward();
    opt.step();
    opt.zeroGrad();
  });
}

describe('checkpoints', () => {
  it('round-trip bit-exactly under PyTorch state_dict names, num_batches_tracked as int64', async () => {
    const a = net(1);
    const opt = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9 });
    trainStep(a, opt, new Generator(5));
    const f = join(dir, 'a.safetensors');
    await saveCheckpoint(f, a, { meta: { architecture: 'test-net', epoch: 3, metrics: { acc: 0.5 } } });
    const file = readSafetensors(f);
    expect([...file.tensors.keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '4.weight', '4.bias']);
    expect(file.tensors.get('1.num_batches_tracked')!.dtype).toBe('I64');
    const b = net(2);
    const meta = loadCheckpoint(f, b);
    expect(meta).toMatchObject({ architecture: 'test-net', epoch: 3, metrics: { acc: 0.5 } });
    expect(await snapshot(b)).toEqual(await snapshot(a));
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  it('resume is exact: model, optimizer momentum and RNG state continue where they stopped', async () => {
    const gen = new Generator(7);
    const a = net(1);
    const optA = new SGD(a.parameters(), { lr: 0.05, momentum: 0.9 });
    trainStep(a, optA, gen);
    const f = join(dir, 'resume.safetensors');
    await saveCheckpoint(f, a, { optimizer: optA, generator: gen });
    trainStep(a, optA, gen);
    trainStep(a, optA, gen);
    const b = net(3);
    const optB = new SGD(b.parameters(), { lr: 0.05, momentum: 0.9 });
    const genB = new Generator(0);
    loadCheckpoint(f, b, { optimizer: optB, generator: genB });
    trainStep(b, optB, genB);
    trainStep(b, optB, genB);
    const sa = await snapshot(a);
    const sb = await snapshot(b);
    for (const [k, v] of sa) expect(sb.get(k), k).toEqual(v);
    [optA, optB, a, b].forEach((x) => x.dispose());
  });

  it('refuses a wrong shape, a missing key and a truncated file, naming the key or byte offset', async () => {
    const a = net(1);
    const f = join(dir, 'bad.safetensors');
    await saveCheckpoint(f, a);
    const st = readSafetensors(f).tensors;
    const wrong = join(dir, 'wrong.safetensors');
    writeSafetensors(wrong, [...st.entries()].map(([k, t]) => [k, k === '4.weight' ? { dtype: 'F32', shape: [3, 10], data: new Float32Array(30) } : t]));
    expect(() => loadCheckpoint(wrong, a)).toThrow(/'4\.weight': shape \[3, 10\] in the checkpoint, \[3, 100\] in the model/);
    const missing = join(dir, 'missing.safetensors');
    writeSafetensors(missing, [...st.entries()].filter(([k]) => k !== '1.running_var'));
    expect(() => loadCheckpoint(missing, a)).toThrow(/missing key '1\.running_var'/);
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, readFileSync(f).subarray(0, 300));
    expect(() => loadCheckpoint(cut, a)).toThrow(/truncated.*byte offset/);
    // Nothing was half-loaded: the model still works with its own weights.
    expect(a.stateDict().every(([, t]) => !t.disposed)).toBe(true);
    a.dispose();
  });

  /** Everything a failed load must leave alone: weights, optimizer state (step and buffers) and generator. */
  async function everything(m: Sequential, opt: SGD, gen: Generator): Promise<unknown> {
    const sd = opt.stateDict();
    const state: Record<string, unknown> = {};
    for (const [i, st] of Object.entries(sd.state)) {
      for (const [k, v] of Object.entries(st)) state[`${i}.${k}`] = typeof v === 'number' ? v : Array.from(await v.read());
    }
    return { weights: Object.fromEntries(await snapshot(m)), state, groups: sd.param_groups, rng: gen.getState() };
  }

  /** A copy of checkpoint `from` with some tensors and metadata replaced (undefined removes). */
  function variant(from: string, name: string, change: { tensors?: Record<string, StTensor | undefined>; meta?: Record<string, string | undefined> }): string {
    const { tensors, metadata } = readSafetensors(from);
    for (const [k, v] of Object.entries(change.tensors ?? {})) { if (v) tensors.set(k, v); else tensors.delete(k); }
    for (const [k, v] of Object.entries(change.meta ?? {})) { if (v === undefined) delete metadata[k]; else metadata[k] = v; }
    const f = join(dir, name);
    writeSafetensors(f, tensors, metadata);
    return f;
  }

  describe('a refused load changes nothing', async () => {
    const f = join(dir, 'full.safetensors');
    const cases: [string, (m: Sequential) => string, RegExp][] = [
      ['optimizer state for other parameter shapes', () => variant(f, 'o-shape.safetensors', { tensors: { 'optimizer.state.0.momentum_buffer': { dtype: 'F32', shape: [5], data: new Float32Array(5) } } }), /optimizer state: SGD\.loadStateDict: state\[0\]\.momentum_buffer: float32 \[4, 1, 3, 3\] expected/],
      ['optimizer state of another optimizer', () => variant(f, 'o-adam.safetensors', { tensors: { 'optimizer.state.0.exp_avg': { dtype: 'F32', shape: [4, 1, 3, 3], data: new Float32Array(36) } } }), /state\[0\]\.exp_avg: unknown state/],
      ['optimizer param_groups for fewer parameters', () => variant(f, 'o-groups.safetensors', { meta: { optimizer: JSON.stringify({ param_groups: [{ lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 0, nesterov: false, params: [0, 1, 2] }], scalars: {} }) } }), /param_groups\[0\] has 3 parameters, this optimizer's group 0 has 6/],
      ['a parameter index twice', () => variant(f, 'o-twice.safetensors', { meta: { optimizer: JSON.stringify({ param_groups: [{ params: [0, 0, 1, 2, 3, 4] }], scalars: {} }) } }), /param_groups\[0\]\.params\[1\]: index 0 appears more than once/],
      ['optimizer metadata that is not JSON', () => variant(f, 'o-json.safetensors', { meta: { optimizer: '{"param_groups": [' } }), /metadata 'optimizer' is not valid JSON/],
      ['optimizer metadata of the wrong shape', () => variant(f, 'o-type.safetensors', { meta: { optimizer: '{"param_groups": {}, "scalars": []}' } }), /metadata 'optimizer': expected \{param_groups/],
      ['a step that is not a number', () => variant(f, 'o-step.safetensors', { meta: { optimizer: JSON.stringify({ ...JSON.parse(readSafetensors(f).metadata.optimizer!), scalars: { 0: { step: 'three' } } }) } }), /scalars\.0\.step: expected a number, got "three"/],
      ['no optimizer state', () => variant(f, 'o-none.safetensors', { meta: { optimizer: undefined } }), /no optimizer state in this checkpoint/],
      ['RNG metadata that is not JSON', () => variant(f, 'r-json.safetensors', { meta: { rng: 'seed=3' } }), /metadata 'rng' is not valid JSON/],
      ['RNG state with a negative offset', () => variant(f, 'r-neg.safetensors', { meta: { rng: '{"seed": 3, "offset": -1}' } }), /metadata 'rng': offset must be a non-negative safe integer, got -1/],
      ['robustgpu metadata that is not JSON', () => variant(f, 'm-json.safetensors', { meta: { robustgpu: '{"epoch": ' } }), /metadata 'robustgpu' is not valid JSON/],
      ['robustgpu metadata that is not an object', () => variant(f, 'm-type.safetensors', { meta: { robustgpu: '[3]' } }), /metadata 'robustgpu': expected a JSON object, got \[3\]/],
      ['a missing weight', () => variant(f, 'w-missing.safetensors', { tensors: { '4.bias': undefined } }), /missing key '4\.bias'/],
      ['a weight of the wrong dtype', () => variant(f, 'w-dtype.safetensors', { tensors: { '4.bias': { dtype: 'I32', shape: [3], data: new Int32Array(3) } } }), /'4\.bias': dtype int32 in the checkpoint, float32 in the model/],
    ];
    it.each(cases)('%s: refused, naming the file and the key; weights, optimizer and generator untouched', async (_, make, msg) => {
      const a = net(1);
      const optA = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9 });
      const genA = new Generator(11);
      trainStep(a, optA, genA);
      await saveCheckpoint(f, a, { optimizer: optA, generator: genA, meta: { epoch: 1 } });
      const bad = make(a);
      const b = net(2);
      const optB = new SGD(b.parameters(), { lr: 0.05, momentum: 0.5 });
      const genB = new Generator(3);
      trainStep(b, optB, genB);
      const before = await everything(b, optB, genB);
      let err: unknown;
      try { loadCheckpoint(bad, b, { optimizer: optB, generator: genB }); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message, String(err)).toMatch(msg);
      expect((err as Error).message.startsWith(`${bad}: `)).toBe(true);
      expect(await everything(b, optB, genB)).toEqual(before);
      // The good checkpoint still loads into the same objects.
      loadCheckpoint(f, b, { optimizer: optB, generator: genB });
      expect(await everything(b, optB, genB)).toEqual(await everything(a, optA, genA));
      [optA, optB, a, b].forEach((x) => x.dispose());
    });

    it('an Adam checkpoint into SGD: the model is not loaded either', async () => {
      const a = net(1);
      const adam = new Adam(a.parameters(), { lr: 0.01 });
      trainStep(a, adam as unknown as SGD, new Generator(1));
      const fa = join(dir, 'adam.safetensors');
      await saveCheckpoint(fa, a, { optimizer: adam });
      const b = net(2);
      const sgd = new SGD(b.parameters(), { lr: 0.1 });
      const gen = new Generator(0);
      const before = await everything(b, sgd, gen);
      expect(() => loadCheckpoint(fa, b, { optimizer: sgd })).toThrow(/optimizer state: SGD\.loadStateDict: param_groups\[0\] has unknown hyperparameter 'betas'/);
      expect(await everything(b, sgd, gen)).toEqual(before);
      [adam, sgd, a, b].forEach((x) => x.dispose());
    });
  });

  it('saveCheckpoint refuses non-finite weights, naming the tensor, the element and the value, unless allowNonFinite', async () => {
    const a = net(1);
    const f = join(dir, 'finite.safetensors');
    await saveCheckpoint(f, a);
    const good = readFileSync(f);
    const w = new Float32Array(300);
    w[5] = NaN;
    w[7] = Infinity;
    scope(() => a.loadStateDict(new Map([['4.weight', tensor(w, [3, 100])]]), { strict: false }));
    await expect(saveCheckpoint(f, a)).rejects.toThrow(CheckpointError);
    await expect(saveCheckpoint(f, a)).rejects.toThrow(`${f}: not saved: '4.weight' [3, 100] has NaN at element 5; pass allowNonFinite: true`);
    // The last good checkpoint is still there, byte for byte.
    expect(readFileSync(f).equals(good)).toBe(true);
    await saveCheckpoint(f, a, { allowNonFinite: true });
    const back = readSafetensors(f).tensors.get('4.weight')!.data;
    expect([back[5], back[7]]).toEqual([NaN, Infinity]);
    // Optimizer state is checked too.
    const b = net(1);
    const opt = new SGD(b.parameters(), { lr: 1e30, momentum: 0.9 });
    trainStep(b, opt, new Generator(1));
    trainStep(b, opt, new Generator(1));
    await expect(saveCheckpoint(join(dir, 'inf.safetensors'), b, { optimizer: opt })).rejects.toThrow(/not saved: '0\.weight' \[4, 1, 3, 3\] has -?(Infinity|NaN) at element \d+/);
    [a, b, opt].forEach((x) => x.dispose());
  });

  it('strictBuffers: false loads a checkpoint without num_batches_tracked (PyTorch < 0.4.1); the default refuses it', async () => {
    const a = net(1);
    const f = join(dir, 'nbt.safetensors');
    await saveCheckpoint(f, a);
    const old = variant(f, 'old-torch.safetensors', { tensors: { '1.num_batches_tracked': undefined } });
    const b = net(2);
    expect(() => loadCheckpoint(old, b)).toThrow(/missing key '1\.num_batches_tracked' \(a buffer/);
    loadCheckpoint(old, b, { strictBuffers: false });
    const sa = await snapshot(a);
    const sb = await snapshot(b);
    for (const [k, v] of sa) expect(sb.get(k), k).toEqual(k === '1.num_batches_tracked' ? [0] : v);
    [a, b].forEach((x) => x.dispose());
  });
});
