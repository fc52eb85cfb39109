/**
 * Fuzz tests of every file reader (see fuzz.ts): a few hundred seeded mutants of a valid file each, for the
 * safetensors, checkpoint, IDX (and Fashion-MNIST), CIFAR binary and reference-case readers. Each mutant must
 * read into something consistent or be refused with the reader's own error naming the file; the checkpoint
 * loader must also leave the model, the optimizer and the generator untouched whenever it refuses.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { useDevice } from './helpers.js';
import { byteMutants, fuzzReader, mutateJson, type Mutant } from './fuzz.js';
import { CpuRandom } from '../engine/ref/random.js';
import { readSafetensors, serializeSafetensors, writeSafetensors, SafetensorsError, type StDType, type StTensor } from '../nn/safetensors.js';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '../nn/checkpoint.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, Sequential } from '../nn/layers/index.js';
import { SGD } from '../engine/optim/index.js';
import { Generator } from '../engine/rng.js';
import { tensor } from '../engine/create.js';
import type { Tensor } from '../engine/tensor.js';
import { scope } from '../engine/scope.js';
import { crossEntropy } from '../engine/ops/index.js';
import { readIdx } from '../training/data/idx.js';
import { loadFashionMnist } from '../training/data/fashion_mnist.js';
import { readCifarFiles } from '../training/data/cifar.js';
import { DataFileError } from '../training/data/data_file.js';
import { CaseFileError, loadCaseFile } from '../engine/audit_cases.js';
import { getCaseSignature } from '../engine/case_adapters.js';

const dev = useDevice();
const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
const BYTES: Record<StDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };
const product = (s: readonly number[]) => s.reduce((p, q) => p * q, 1);
/** Mutants whose reads took this long would be a hang in the making (the slowest seen is a few ms). */
const SLOW_MS = 1000;

type Json = Parameters<typeof mutateJson>[0];

/** A safetensors file from header JSON text and a data section. */
function stFile(header: string, data: Buffer): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
  return Buffer.concat([len, Buffer.from(header), data]);
}

describe('fuzzed readers refuse bad input cleanly', () => {
  it('safetensors: random, truncated and bit-flipped bytes, header values of the wrong type', async () => {
    const rng = new CpuRandom(1);
    const seedPath = join(dir, 'seed.safetensors');
    writeSafetensors(seedPath, [
      ['a', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['b', { dtype: 'I64', shape: [2], data: Int32Array.from([7, -8]) }],
      ['c', { dtype: 'U8', shape: [5], data: Uint8Array.from([1, 2, 3, 4, 5]) }],
      ['d', { dtype: 'F64', shape: [1], data: Float64Array.from([Math.PI]) }],
      ['s', { dtype: 'F32', shape: [], data: Float32Array.from([-1]) }],
    ], { format: 'pt', note: 'seed' });
    const seed = readFileSync(seedPath);
    const headerLen = Number(seed.readBigUInt64LE(0));
    const header = JSON.parse(seed.subarray(8, 8 + headerLen).toString()) as Record<string, { data_offsets?: number[] }>;
    const regions = Object.values(header).flatMap((e) => e.data_offsets ?? []).map((o) => 8 + headerLen + o);
    const mutants = byteMutants(seed, rng, { boundaries: [8, 8 + headerLen, ...regions], random: 200, header: [0, 8 + headerLen] });
    const data = seed.subarray(8 + headerLen);
    for (let k = 0; k < 150; k++) {
      const m = mutateJson(header as Json, rng);
      mutants.push({ what: `header ${m.what}`, bytes: stFile(JSON.stringify(m.doc), data) });
    }
    const r = await fuzzReader(join(dir, 'mutant.safetensors'), mutants, SafetensorsError, readSafetensors, ({ tensors, metadata }, m) => {
      // Accepted: every tensor's data matches its shape, and the tensors tile the data section exactly.
      const len = Number(m.bytes.readBigUInt64LE(0));
      let bytes = 0;
      for (const [name, t] of tensors) {
        expect(t.data.length, name).toBe(product(t.shape));
        bytes += t.data.length * BYTES[t.dtype];
      }
      expect(bytes).toBe(m.bytes.length - 8 - len);
      for (const v of Object.values(metadata)) expect(typeof v).toBe('string');
    });
    expect(r.inputs).toBeGreaterThan(350);
    expect(r.refused).toBeGreaterThan(r.inputs / 2);
    expect(r.slowestMs).toBeLessThan(SLOW_MS);
  });

  it('checkpoint: a refused load leaves model, optimizer and generator untouched; an accepted one loads what the file holds', async () => {
    const rng = new CpuRandom(2);
    const g = new Generator(1);
    const model = new Sequential(new Conv2d(1, 2, 3, { padding: 1, generator: g }), new BatchNorm2d(2), new Flatten(), new Linear(2 * 4 * 4, 3, { generator: g }));
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    scope(() => {
      crossEntropy(model.train().forward(tensor(new Float32Array(32).map((_, i) => Math.sin(i)), [2, 1, 4, 4])), tensor(Int32Array.of(0, 2), [2])).backward();
      opt.step();
      opt.zeroGrad();
    });
    const gen = new Generator(5);
    const seedPath = join(dir, 'seed-ckpt.safetensors');
    await saveCheckpoint(seedPath, model, { optimizer: opt, generator: gen, meta: { epoch: 2, metrics: { acc: 0.5 } } });
    const seed = readSafetensors(seedPath);

    /** Everything a load may change, read back. */
    const state = async () => {
      const entries: [string, Tensor | number][] = [...model.stateDict()];
      for (const [i, st] of Object.entries(opt.stateDict().state)) for (const [k, v] of Object.entries(st)) entries.push([`opt.${i}.${k}`, v]);
      const values = await Promise.all(entries.map(([, v]) => (typeof v === 'number' ? v : v.read().then((a) => Array.from(a)))));
      return { ...Object.fromEntries(entries.map(([k], i) => [k, values[i]])), groups: opt.stateDict().param_groups, rng: gen.getState() } as Record<string, unknown>;
    };

    const names = [...seed.tensors.keys()];
    const mutants: Mutant[] = [];
    for (let k = 0; k < 150; k++) {
      const tensors = new Map(seed.tensors);
      const metadata = { ...seed.metadata };
      let what: string;
      const name = names[Math.floor(rng.next() * names.length)]!;
      const t = tensors.get(name)!;
      switch (Math.floor(rng.next() * 6)) {
        case 0: tensors.delete(name); what = `without ${name}`; break;
        case 1: {
          const to = ['optimizer.state.9.momentum_buffer', 'optimizer.state.x', 'optimizer.state.0.step', 'optimizer.state.01.momentum_buffer', `${name}.extra`, 'optimizer.state.0.exp_avg', '__proto__'][Math.floor(rng.next() * 7)]!;
          tensors.delete(name);
          tensors.set(to, t);
          what = `${name} renamed ${to}`;
          break;
        }
        case 2: {
          const dtype = (['F32', 'F64', 'I32', 'I64', 'U8'] as const)[Math.floor(rng.next() * 5)]!;
          const data = dtype === 'F32' ? Float32Array.from(t.data) : dtype === 'F64' ? Float64Array.from(t.data) : dtype === 'U8' ? Uint8Array.from(t.data) : Int32Array.from(t.data);
          const shape = rng.next() < 0.5 ? [t.data.length] : t.shape;
          tensors.set(name, { dtype, shape, data } as StTensor);
          what = `${name} as ${dtype} [${shape}]`;
          break;
        }
        case 3: tensors.set('extra.weight', { dtype: 'F32', shape: [1], data: Float32Array.of(1) }); what = 'an extra tensor'; break;
        default: {
          const key = ['optimizer', 'rng', 'robustgpu'][Math.floor(rng.next() * 3)]!;
          const r = rng.next();
          if (r < 0.15) { delete metadata[key]; what = `no metadata ${key}`; }
          else if (r < 0.3) { metadata[key] = metadata[key]!.slice(0, Math.floor(rng.next() * metadata[key]!.length)); what = `metadata ${key} cut`; }
          else { const m = mutateJson(JSON.parse(metadata[key]!) as Json, rng); metadata[key] = JSON.stringify(m.doc); what = `metadata ${key}: ${m.what}`; }
        }
      }
      mutants.push({ what, bytes: Buffer.concat(serializeSafetensors(tensors, metadata)) });
    }
    const bytes = readFileSync(seedPath);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    mutants.push(...byteMutants(bytes, rng, { boundaries: [8, 8 + headerLen], random: 150, header: [0, 8 + headerLen] }));

    const live = dev().stats().liveTensors;
    let current = await state();
    let checked = 0;
    const path = join(dir, 'mutant-ckpt.safetensors');
    const r = await fuzzReader(path, mutants, SafetensorsError, async (p) => {
      try {
        return loadCheckpoint(p, model, { optimizer: opt, generator: gen });
      } catch (e) {
        // A plain SafetensorsError comes from the file's format, found before the model is reachable.
        if (!(e instanceof CheckpointError)) throw e;
        checked++;
        const after = await state();
        // Reported as a failure: an Error is no SafetensorsError.
        if (JSON.stringify(after) !== JSON.stringify(current)) throw new Error(`refused (${(e as Error).message}) but changed the model, optimizer or generator`);
        throw e;
      }
    }, async () => {
      const now = await state();
      for (const [k, t] of readSafetensors(path).tensors) if (!k.startsWith('optimizer.')) expect(now[k], k).toEqual(Array.from(t.data, (v) => (t.dtype === 'F64' ? Math.fround(v) : v)));
      current = now;
    });
    expect(r.inputs).toBeGreaterThan(300);
    expect(r.accepted).toBeGreaterThan(0);
    expect(r.refused).toBeGreaterThan(r.inputs / 3);
    expect(checked, 'refusals after the file was read, each checked for changes').toBeGreaterThan(50);
    expect(dev().stats().liveTensors, 'tensors left alive by the loads').toBe(live);
    expect(r.slowestMs).toBeLessThan(SLOW_MS);
    opt.dispose();
    model.dispose();
  });

  it('IDX, raw and gzip, and the Fashion-MNIST loader over a mutated label file', async () => {
    const rng = new CpuRandom(3);
    const raw = Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]), Buffer.from(Array.from({ length: 60 }, (_, i) => i * 4))]);
    const gz = gzipSync(raw);
    const mutants = [
      ...byteMutants(raw, rng, { boundaries: [4, 8, 12, 16, 76], random: 150, header: [0, 16] }),
      ...byteMutants(gz, rng, { boundaries: [10, gz.length - 8], random: 100 }),
    ];
    const r = await fuzzReader(join(dir, 'mutant.idx'), mutants, DataFileError, readIdx, (a, m) => {
      expect(a.data.length).toBe(product(a.shape));
      expect(a.shape.length).toBeLessThanOrEqual(255);
      expect(m.bytes.length).toBeGreaterThan(0);
    });
    expect(r.inputs).toBeGreaterThan(250);
    expect(r.slowestMs).toBeLessThan(SLOW_MS);

    const fm = mkdtempSync(join(dir, 'fm-'));
    writeFileSync(join(fm, 't10k-images-idx3-ubyte.gz'), gzipSync(Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 28, 0, 0, 0, 28]), Buffer.alloc(4 * 784, 200)])));
    const labels = Buffer.from([0, 0, 8, 1, 0, 0, 0, 4, 9, 0, 3, 7]);
    const f = await fuzzReader(join(fm, 't10k-labels-idx1-ubyte.gz'), byteMutants(labels, rng, { boundaries: [4, 8, 12], random: 100 }), DataFileError, () => loadFashionMnist('test', undefined, fm), (s) => {
      expect(s.n).toBe(4);
      for (const l of s.labels) expect(l >= 0 && l < 10, `label ${l}`).toBe(true);
    });
    expect(f.refused).toBeGreaterThan(0);
  });

  it('CIFAR-10 and CIFAR-100 binary: truncations at record boundaries, random labels and bytes', async () => {
    const rng = new CpuRandom(4);
    for (const [format, head, classes] of [['cifar10', 1, [10]], ['cifar100-fine', 2, [20, 100]]] as const) {
      const record = head + 3072;
      const seed = Buffer.concat(Array.from({ length: 4 }, (_, r) => Buffer.from([...classes.map((c) => (r * 3) % c), ...Array.from({ length: 3072 }, (_, j) => (r + j) % 256)])));
      const boundaries = Array.from({ length: 4 }, (_, r) => [r * record, r * record + head]).flat();
      const mutants = byteMutants(seed, rng, { boundaries, random: 120 });
      for (let k = 0; k < 60; k++) {
        const b = Buffer.from(seed);
        const at = Math.floor(rng.next() * 4) * record + Math.floor(rng.next() * head);
        b[at] = Math.floor(rng.next() * 256);
        mutants.push({ what: `label byte ${at} = ${b[at]}`, bytes: b });
      }
      const r = await fuzzReader(join(dir, `mutant-${format}.bin`), mutants, DataFileError, (p) => readCifarFiles([p], format), (s) => {
        expect(s.images.length).toBe(s.n * 3072);
        expect(s.labels.length).toBe(s.n);
        for (const l of s.labels) expect(l >= 0 && l < classes.at(-1)!, `label ${l}`).toBe(true);
        for (const v of s.images) if (!(v >= 0 && v <= 1)) expect.fail(`pixel ${v}`);
      });
      expect(r.inputs, format).toBeGreaterThan(180);
      expect(r.accepted, format).toBeGreaterThan(0);
      expect(r.refused, format).toBeGreaterThan(0);
      expect(r.slowestMs).toBeLessThan(SLOW_MS);
    }
  });

  it('reference-case files: values of the wrong type anywhere, truncated and corrupted text', async () => {
    const rng = new CpuRandom(5);
    const t = (shape: number[], data: number[], dtype = 'float32') => ({ shape, dtype, data });
    const doc = {
      schema_version: 1, family: 'fuzz', cases: [
        { name: 'neg', op: 'neg', params: {}, inputs: { x: t([2], [1, -2]) }, outputs: { y: t([2], [-1, 2], 'float64') }, gout: t([2], [1, 1], 'float64'), gout_for: 'y', grads: { x: t([2], [-1, -1], 'float64') } },
        { name: 'mm', op: 'matmul', params: { transpose_a: false }, inputs: { a: t([1, 2], [1, 2]), b: t([2, 1], [3, 4]) }, outputs: { y: t([1, 1], [11], 'float64') }, gout: null, gout_for: null, grads: {} },
        { name: 'ce', op: 'cross_entropy', params: { reduction: 'mean' }, inputs: { logits: t([2, 3], [1, 2, 3, 4, 5, 6]), labels: t([2], [0, 2], 'int64') }, outputs: { loss: t([], [1.4], 'float64') }, gout: t([], [1], 'float64'), gout_for: 'loss', grads: {} },
        { name: 'sgd', op: 'sgd', params: { lr: 0.1, steps: 2 }, inputs: { params: { w: t([2], [1, 2]) }, grads_per_step: [{ w: t([2], [1, 1]) }, { w: t([2], [0, 1]) }] }, outputs: { params_per_step: [{ w: t([2], [0.9, 1.9], 'float64') }, { w: t([2], [0.9, 1.8], 'float64') }] } },
        { name: 'l2', op: 'pgd_l2_step', params: { eps: 0.5, alpha: 0.1 }, inputs: { x: t([1, 2], [0.5, 0.5]), x_adv: t([1, 2], [0.5, 0.5]), grad: t([1, 2], [3, 4]) }, outputs: { x_adv_new: t([1, 2], [0.56, 0.58], 'float64') }, gout: null, gout_for: null, grads: {} },
      ],
    };
    const text = Buffer.from(JSON.stringify(doc));
    const mutants: Mutant[] = [];
    for (let k = 0; k < 200; k++) {
      let m = { what: '', doc: doc as unknown as Json };
      const n = 1 + Math.floor(rng.next() * 2);
      const whats: string[] = [];
      for (let i = 0; i < n; i++) { m = mutateJson(m.doc, rng); whats.push(m.what); }
      mutants.push({ what: whats.join('; '), bytes: Buffer.from(JSON.stringify(m.doc)) });
    }
    // Targeted: the faults a generator of case files makes (a NaN written as null, a dropped input or output).
    type Doc = { cases: { inputs: Record<string, { data?: unknown[] }>; outputs: Record<string, unknown>; grads?: Record<string, unknown> }[] };
    for (let k = 0; k < 60; k++) {
      const d = JSON.parse(JSON.stringify(doc)) as Doc;
      const ci = Math.floor(rng.next() * 3);
      const c = d.cases[ci]!;
      const names = Object.keys(c.inputs);
      const name = names[Math.floor(rng.next() * names.length)]!;
      const what = ['null in data', 'input removed', 'nothing compared', 'label out of range'][k % 4]!;
      if (what === 'null in data') c.inputs[name]!.data![0] = null;
      else if (what === 'input removed') delete c.inputs[name];
      else if (what === 'nothing compared') { c.outputs = {}; c.grads = {}; }
      else (d.cases[2]!.inputs.labels!.data![1] = [2 ** 31, -1.5, 0.5][k % 3]);
      mutants.push({ what: `case ${ci}: ${what} (${name})`, bytes: Buffer.from(JSON.stringify(d)) });
    }
    mutants.push(...byteMutants(text, rng, { boundaries: [], random: 100 }));
    const r = await fuzzReader(join(dir, 'mutant-cases.json'), mutants, CaseFileError, loadCaseFile, (cases) => {
      for (const c of cases) {
        expect(typeof c.name).toBe('string');
        expect(typeof c.op).toBe('string');
        expect(Object.keys(c.outputs).length + Object.keys(c.grads).length).toBeGreaterThan(0);
        for (const k of getCaseSignature(c.op)?.inputs ?? []) expect(c.inputs, `${c.name} needs ${k}`).toHaveProperty([k]);
        for (const [k, x] of [...Object.entries(c.inputs), ...Object.entries(c.outputs), ...Object.entries(c.grads), ...(c.gout ? [['gout', c.gout] as const] : [])]) {
          expect(x.data.length, `${c.name}.${k}`).toBe(product(x.shape));
          for (const v of x.data) if (typeof v !== 'number' || !Number.isFinite(v) || (x.dtype === 'int64' && !Number.isInteger(v))) expect.fail(`${c.name}.${k}: ${v}`);
        }
      }
    });
    expect(r.inputs).toBeGreaterThan(300);
    expect(r.accepted).toBeGreaterThan(0);
    expect(r.refused).toBeGreaterThan(r.inputs / 3);
    expect(r.slowestMs).toBeLessThan(SLOW_MS);
  });
});
