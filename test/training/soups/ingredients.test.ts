import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { Generator } from '../../../engine/rng.js';
import { SmallCNN } from '../../../nn/models/index.js';
import { saveCheckpoint } from '../../../nn/checkpoint.js';
import { readSafetensors, writeSafetensors, type StTensor } from '../../../nn/safetensors.js';
import { ingredientsFromModels, loadIngredients } from '../../../training/soups/ingredients.js';
import { mlp } from './fixtures.js';
import { Linear, Sequential } from '../../../nn/layers/index.js';

const dev = useDevice();
const dir = mkdtempSync(join(tmpdir(), 'soup-ingredients-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function saved(name: string, meta: Record<string, unknown> = { architecture: 'smallcnn' }, seed = 1): Promise<string> {
  const m = new SmallCNN({ generator: new Generator(seed), activation: typeof meta.activation === 'string' ? meta.activation : undefined });
  const path = join(dir, name);
  await saveCheckpoint(path, m, { meta });
  m.dispose();
  return path;
}

/** A copy of the file at `from` with its tensors edited. */
function variant(from: string, name: string, edit: (t: Map<string, StTensor>) => void): string {
  const f = readSafetensors(from);
  edit(f.tensors);
  const path = join(dir, name);
  writeSafetensors(path, f.tensors, f.metadata);
  return path;
}

describe('soup ingredients', () => {
  it('load K checkpoints of one architecture, frozen and in eval mode, the first one\'s module as the template', async () => {
    const paths = [await saved('a.safetensors'), await saved('b.safetensors', { architecture: 'smallcnn' }, 2)];
    const ing = loadIngredients(paths);
    expect(ing.K).toBe(2);
    expect(ing.labels).toEqual(paths);
    expect(ing.meta.architecture).toBe('smallcnn');
    expect(ing.template).toBe(ing.models[0]);
    expect(ing.names).toEqual(ing.template.stateDict().map(([k]) => k));
    expect(ing.models.every((m) => !m.training && m.parameters().every((p) => !p.requiresGrad))).toBe(true);
    expect(ing.tensors('features.fc.bias').length).toBe(2);
    expect(() => ing.tensors('fc.bias')).toThrow(/no tensor named 'fc\.bias'/);
    ing.dispose();
  });

  it('refuse mismatched checkpoints before uploading any, naming the first difference: file, key, both values', async () => {
    const a = await saved('base.safetensors');
    const cases: [string, string | RegExp][] = [
      [await saved('arch.safetensors', { architecture: 'trades_smallcnn' }), /metadata says architecture "trades_smallcnn" in .*arch\.safetensors, "smallcnn" in .*base\.safetensors/],
      [await saved('act.safetensors', { architecture: 'smallcnn', activation: 'silu' }), /metadata says activation "silu" in .*act\.safetensors, null in .*base\.safetensors/],
      [variant(a, 'missing.safetensors', (t) => t.delete('features.fc.bias')), /'features\.fc\.bias' is in .*base\.safetensors but not in .*missing\.safetensors/],
      [variant(a, 'shape.safetensors', (t) => t.set('features.conv2.bias', { dtype: 'F32', shape: [31], data: new Float32Array(31) })), /'features\.conv2\.bias' has shape \[31\] in .*shape\.safetensors, \[32\] in .*base\.safetensors/],
      [variant(a, 'dtype.safetensors', (t) => t.set('features.conv1.bias', { dtype: 'F64', shape: [16], data: new Float64Array(16) })), /'features\.conv1\.bias' is F64 in .*dtype\.safetensors, F32 in .*base\.safetensors/],
      [variant(a, 'extra.safetensors', (t) => t.set('features.extra', { dtype: 'F32', shape: [1], data: new Float32Array(1) })), /'features\.extra' is in .*extra\.safetensors but not in .*base\.safetensors/],
    ];
    const live = dev().stats().liveTensors;
    for (const [path, message] of cases) {
      expect(() => loadIngredients([a, a, path]), path).toThrow(message);
      expect(() => loadIngredients([a, path]), path).toThrow(/soup ingredients differ: .*every ingredient must be one architecture/);
    }
    expect(dev().stats().liveTensors).toBe(live);
    // The optimizer's state is not part of the model: ingredients may differ there.
    const withOpt = variant(a, 'opt.safetensors', (t) => t.set('optimizer.state.0.momentum_buffer', { dtype: 'F32', shape: [3], data: new Float32Array(3) }));
    expect(() => loadIngredients([a, withOpt]).dispose()).not.toThrow();
  });

  it('refuse in-memory models of other classes or tensors, naming the first difference', () => {
    const a = mlp(1);
    const wider = new Sequential(a.namedChildren()[0]![1], new Linear(784, 33, { generator: new Generator(0) }));
    expect(() => ingredientsFromModels([a, wider], { labels: ['a', 'wider'] })).toThrow(/'1\.weight' has shape \[33, 784\] in wider, \[32, 784\] in a/);
    const lin = new Linear(784, 10, { generator: new Generator(0) });
    expect(() => ingredientsFromModels([a, lin])).toThrow(/model 1 is a Linear, model 0 a Sequential/);
    expect(() => ingredientsFromModels([a, a])).toThrow(/a model is given twice/);
    for (const m of [a, wider, lin]) m.dispose();
  });
});
