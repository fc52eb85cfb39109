import { describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { Device } from '../../../engine/device.js';
import { Generator, defaultGenerator } from '../../../engine/rng.js';
import { scope } from '../../../engine/scope.js';
import { noGrad } from '../../../engine/tape.js';
import { SGD } from '../../../engine/optim/index.js';
import { crossEntropy } from '../../../engine/ops/index.js';
import { Activation, Conv2d, GlobalAvgPool2d, Linear, Sequential } from '../../../nn/layers/index.js';
import { standardStep } from '../../../training/steps.js';
import { DataLoader, evalBatches, type LoadedBatch, type LoaderOptions } from '../../../training/data/loader.js';
import { augmentCpu, drawAugment } from '../../../training/data/augment.js';
import { syntheticImageSet } from '../../../training/data/synthetic.js';
import { splitHeldOut } from '../../../training/data/splits.js';
import type { ImageSet } from '../../../training/data/image_set.js';

const dev = useDevice();

/** n images of [2, 2, 3] whose pixels encode their index, label = index mod 7. */
function indexed(n: number): ImageSet {
  const px = 12;
  return { images: Float32Array.from({ length: n * px }, (_, i) => Math.floor(i / px) + (i % px) / 16), labels: Int32Array.from({ length: n }, (_, i) => i % 7), n, shape: [2, 2, 3] };
}

/** Reads a batch back and checks its tensors hold exactly its examples; returns its indices. */
async function checked(set: ImageSet, b: LoadedBatch): Promise<number[]> {
  const B = b.indices.length;
  expect(b.x.shape).toEqual([B, ...set.shape]);
  expect(b.y.shape).toEqual([B]);
  expect(b.y.dtype).toBe('int32');
  const x = await b.x.read();
  const y = await b.y.read();
  for (let i = 0; i < B; i++) {
    const j = b.indices[i]!;
    for (let p = 0; p < 12; p++) if (x[i * 12 + p] !== set.images[j * 12 + p]) expect.fail(`batch row ${i} (example ${j}) pixel ${p} is ${x[i * 12 + p]}, expected ${set.images[j * 12 + p]}`);
    expect(y[i]).toBe(set.labels[j]);
    expect(b.labels[i]).toBe(set.labels[j]);
  }
  b.x.dispose();
  b.y.dispose();
  return [...b.indices];
}

/** The indices of the next `k` batches (tensors disposed). */
function take(l: DataLoader, k: number): number[][] {
  return Array.from({ length: k }, () => { const b = l.next(); b.x.dispose(); b.y.dispose(); return [...b.indices]; });
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(() => r()));

describe('DataLoader', () => {
  const set = indexed(23);

  it('serves every example exactly once per epoch, as the data it holds, with a new order each epoch', async () => {
    const live = dev().stats().liveTensors;
    const l = new DataLoader(set, { batchSize: 5, seed: 1, dropLast: false });
    expect(l.batchesPerEpoch).toBe(5);
    const epochs: number[][] = [];
    for (let e = 0; e < 2; e++) {
      const seen: number[] = [];
      const sizes: number[] = [];
      for (const b of l.epochBatches()) { sizes.push(b.indices.length); seen.push(...(await checked(set, b))); }
      // The last batch is partial, never padded.
      expect(sizes).toEqual([5, 5, 5, 5, 3]);
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
      epochs.push(seen);
    }
    expect(epochs[1]).not.toEqual(epochs[0]);
    expect(l.epoch).toBe(2);
    l.dispose();
    expect(dev().stats().liveTensors).toBe(live);
  });

  it('gives the same order for the same seed, another for another seed, and file order without shuffling', () => {
    const order = (o: LoaderOptions): number[] => { const l = new DataLoader(set, o); const r = take(l, 8).flat(); l.dispose(); return r; };
    const a = order({ batchSize: 4, seed: 9 });
    expect(order({ batchSize: 4, seed: 9 })).toEqual(a);
    expect(order({ batchSize: 4, seed: 10 })).not.toEqual(a);
    // Unshuffled with dropLast: 5 batches of 4 per epoch, examples 20-22 never served.
    expect(order({ batchSize: 4, shuffle: false })).toEqual([...Array.from({ length: 20 }, (_, i) => i), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('drops the partial last batch by default, leaving out different examples in different epochs', () => {
    const l = new DataLoader(set, { batchSize: 5, seed: 2 });
    expect(l.batchesPerEpoch).toBe(4);
    const left = [0, 1, 2].map(() => {
      const seen = new Set(take(l, 4).flat());
      expect(seen.size).toBe(20);
      return Array.from({ length: 23 }, (_, i) => i).filter((i) => !seen.has(i));
    });
    expect(l.epoch).toBe(3);
    expect(new Set(left.map((v) => v.join(','))).size).toBeGreaterThan(1);
    l.dispose();
  });

  it('resumes from state() with exactly the next batches, across epochs, whether or not a batch was prefetched', async () => {
    for (const wait of [false, true]) {
      const o: LoaderOptions = { batchSize: 4, seed: 5, dropLast: false };
      const a = new DataLoader(set, o);
      take(a, 7); // into the second epoch (6 batches per epoch)
      if (wait) await yieldToEventLoop();
      const state = a.state();
      expect(state).toEqual({ epoch: 1, position: 4, seed: 5, size: 23 });
      const want = take(a, 9);
      // Through JSON, as a checkpoint stores it; the seed comes from the state.
      const b = DataLoader.fromState(set, { ...o, seed: undefined }, JSON.parse(JSON.stringify(state)));
      expect(take(b, 9)).toEqual(want);
      a.dispose();
      b.dispose();
    }
  });

  it('prefetches the next batch while the caller awaits, and frees it on dispose', async () => {
    const d = dev();
    const live = d.stats().liveTensors;
    const l = new DataLoader(set, { batchSize: 4, seed: 0 });
    const b = l.next();
    expect(d.stats().liveTensors).toBe(live + 2);
    await yieldToEventLoop();
    expect(d.stats().liveTensors, 'the prefetched x and y').toBe(live + 4);
    b.x.dispose();
    b.y.dispose();
    // The prefetched batch belongs to the caller's scope once handed out.
    scope(() => { l.next(); });
    await yieldToEventLoop();
    expect(d.stats().liveTensors).toBe(live + 2);
    l.dispose();
    expect(d.stats().liveTensors).toBe(live);
    const quiet = new DataLoader(set, { batchSize: 4, seed: 0, prefetch: false });
    scope(() => { quiet.next(); });
    await yieldToEventLoop();
    expect(d.stats().liveTensors).toBe(live);
    quiet.dispose();
  });

  it('augments each batch on the GPU from the generator given when it is handed out', async () => {
    const g = new Generator(4);
    const before = defaultGenerator.getState();
    const l = new DataLoader(set, { batchSize: 6, seed: 3, augment: { padding: 1, flip: true, generator: g } });
    take(l, 1);
    await yieldToEventLoop(); // batch 2 is prefetched: it has drawn nothing yet
    const state = g.getState();
    const b = l.next();
    const codes = drawAugment(6, { padding: 1, flip: true, generator: new Generator().setState(state) });
    const raw = new Float32Array(6 * 12);
    b.indices.forEach((j, i) => raw.set(set.images.subarray(j * 12, (j + 1) * 12), i * 12));
    const want = augmentCpu(raw, [6, 2, 2, 3], await codes.read(), 1);
    expect([...(await b.x.read())]).toEqual([...want]);
    expect(defaultGenerator.getState()).toEqual(before);
    [b.x, b.y, codes].forEach((t) => t.dispose());
    l.dispose();
  });

  it('refuses bad options and states, naming the option, the expected and the received value', () => {
    expect(() => new DataLoader(set, { batchSize: 0, seed: 0 })).toThrow(/DataLoader: batchSize: expected a positive integer, got 0/);
    expect(() => new DataLoader(set, { batchSize: 2.5, seed: 0 })).toThrow(/batchSize: expected a positive integer, got 2.5/);
    expect(() => new DataLoader(set, { batchSize: 4 })).toThrow(/shuffle needs a seed/);
    expect(() => new DataLoader(set, { batchSize: 24, seed: 0 })).toThrow(/batchSize 24 exceeds the 23 examples, so dropLast leaves no batch/);
    expect(() => new DataLoader(set, { batchSize: 4, seed: 0, augment: { padding: 4 } as never })).toThrow(/augment.generator is required/);
    const l = new DataLoader(set, { batchSize: 4, seed: 0 });
    expect(() => l.loadState({ epoch: 0, position: 0, seed: 0, size: 22 })).toThrow(/the state is for 22 examples per epoch, this loader has 23/);
    expect(() => l.loadState({ epoch: 0, position: 20, seed: 0, size: 23 })).toThrow(/position must be an integer in \[0, 20\), got 20/);
    expect(() => l.loadState({ epoch: -1, position: 0, seed: 0, size: 23 })).toThrow(/epoch must be an integer >= 0, got -1/);
    l.dispose();
    expect(() => l.next()).toThrow(/disposed/);
    expect(() => DataLoader.fromState(set, { batchSize: 4, seed: 1 }, { epoch: 0, position: 0, seed: 2, size: 23 })).toThrow(/the options give seed 1, the state seed 2/);
    expect(() => new DataLoader({ set, indices: Int32Array.of(0, 23) }, { batchSize: 1, seed: 0 })).toThrow(/example index 23 at position 1 of the subset is outside the set's \[0, 23\)/);
    expect(() => new DataLoader(set, { batchSize: 4, seed: 0, epochs: 0 })).toThrow(/DataLoader: epochs: expected a positive integer, got 0/);
  });

  it('raises an error of the prefetch at the next call instead of losing it in an event callback', async () => {
    const other = await Device.create();
    const l = new DataLoader(set, { batchSize: 4, seed: 0, device: other });
    const b = l.next();
    b.x.dispose();
    b.y.dispose();
    other.destroy();
    // The prefetch runs here and fails; uncaught, it would be an unhandled error that fails this file.
    await yieldToEventLoop();
    expect(() => l.next()).toThrow(/WebGPU device was lost \(destroyed\)/);
    l.dispose();
  });

  it('serves the epochs asked for, then refuses, prefetching nothing past the end', async () => {
    const live = dev().stats().liveTensors;
    const l = new DataLoader(set, { batchSize: 10, seed: 0, epochs: 2 });
    take(l, 3);
    await yieldToEventLoop();
    expect(dev().stats().liveTensors, 'the last batch is prefetched').toBe(live + 2);
    take(l, 1);
    await yieldToEventLoop();
    expect(dev().stats().liveTensors).toBe(live);
    expect(() => l.next()).toThrow(/the 2 epoch\(s\) asked for \(epochs option\) are done/);
    l.dispose();
  });
});

describe('evalBatches', () => {
  it('visits every example once, in order, the last batch partial', async () => {
    const set = indexed(11);
    const sub = { set, indices: Int32Array.of(10, 3, 4, 0, 7) };
    const got: number[] = [];
    for (const b of evalBatches(sub, { batchSize: 2 })) got.push(...(await checked(set, b)));
    expect(got).toEqual([10, 3, 4, 0, 7]);
    const sizes: number[] = [];
    for (const b of evalBatches(set, { batchSize: 4 })) { sizes.push(b.indices.length); b.x.dispose(); b.y.dispose(); }
    expect(sizes).toEqual([4, 4, 3]);
  });
});

describe('the synthetic set through the loader', () => {
  it('is learnable: a few standard steps of a tiny CNN lower the held-out loss', async () => {
    const data = syntheticImageSet({ n: 320, shape: [3, 12, 12], classes: 4, seed: 0 });
    const { train, heldOut } = splitHeldOut(data, { heldOut: 64, seed: 0 });
    const g = new Generator(1);
    const model = new Sequential(new Conv2d(3, 8, 3, { padding: 1, generator: g }), new Activation('relu'), new GlobalAvgPool2d(), new Linear(8, 4, { generator: g }));
    const opt = new SGD(model.parameters(), { lr: 0.2, momentum: 0.9 });
    const heldOutLoss = async (): Promise<number> => {
      let sum = 0;
      for (const b of evalBatches(heldOut, { batchSize: 64 })) {
        const l = scope(() => noGrad(() => { model.eval(); return crossEntropy(model.forward(b.x), b.y); }));
        sum += (await l.item()) * b.indices.length;
        [l, b.x, b.y].forEach((t) => t.dispose());
      }
      return sum / 64;
    };
    const before = await heldOutLoss();
    const loader = new DataLoader(train, { batchSize: 32, seed: 2, augment: { padding: 1, flip: true, generator: g } });
    for (let step = 0; step < 24; step++) scope(() => standardStep(model, opt, loader.next()));
    const after = await heldOutLoss();
    loader.dispose();
    expect(after, `held-out loss ${before} -> ${after}`).toBeLessThan(0.7 * before);
    model.dispose();
    opt.dispose();
  });
});
