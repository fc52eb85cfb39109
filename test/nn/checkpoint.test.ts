import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { Conv2d, BatchNorm2d, Activation, Flatten, Linear, Sequential } from '../../nn/layers/index.js';
import { saveCheckpoint, loadCheckpoint } from '../../nn/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../../nn/safetensors.js';
import { SGD } from '../../engine/optim/index.js';
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
});
