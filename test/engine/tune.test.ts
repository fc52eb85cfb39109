/**
 * The kernel tuner (engine/tune.ts): a shape class met with autotune on is timed at the next sync and its choice
 * persisted per adapter; a new Device reloads it and the selection follows it; entries written for another
 * library version or adapter are ignored; ROBUSTGPU_TUNE_CACHE and XDG_CACHE_HOME are honoured; the cost model
 * picks tiles on a GPU only. Also the Dawn speed toggles (DeviceOptions.fast).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { Device, FAST_TOGGLES } from '../../engine/device.js';
import { randn, Generator } from '../../engine/rng.js';
import { tensor } from '../../engine/create.js';
import * as o from '../../engine/ops/index.js';
import { Tuner, tuneKey, type TuneEntry } from '../../engine/tune.js';
import { gemmClass, matmulPlan, type GemmShape } from '../../kernels/matmul.js';
import { conv2dForwardPlan, conv2dInputGradPlan, conv2dWeightGradPlan, type ConvGeometry } from '../../kernels/conv2d.js';
import { QUICK_TILE, type KernelChooser } from '../../kernels/choice.js';

const dev = useDevice();
const dir = mkdtempSync(join(tmpdir(), 'tune-'));
let n = 0;
const fresh = () => join(dir, `cache-${n++}.json`);

const SHAPE: GemmShape = { M: 40, N: 36, K: 24, batch: 1, aStride: 0, bStride: 0, transA: false, transB: false };
const TILED_ENTRY = (shape: unknown): TuneEntry => ({ choice: { variant: 'tiled', tile: QUICK_TILE }, shape, ms: {}, clock: 'gpu', tunedAt: '2026-01-01T00:00:00Z' });

function writeCache(path: string, key: object, entries: Record<string, TuneEntry>): void {
  writeFileSync(path, JSON.stringify({ format: 1, key, entries }));
}

const envBefore = { cache: process.env.ROBUSTGPU_TUNE_CACHE, xdg: process.env.XDG_CACHE_HOME };
afterEach(() => {
  for (const [k, v] of [['ROBUSTGPU_TUNE_CACHE', envBefore.cache], ['XDG_CACHE_HOME', envBefore.xdg]] as const) {
    if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
});

describe('tuner', () => {
  it('times a class met with autotune on at the next sync, persists the fastest, and a new Device reloads it', async () => {
    const file = fresh();
    const d = await Device.create({ tuneCache: file, autotune: true });
    try {
      const g = new Generator(3);
      const a = randn([SHAPE.M, SHAPE.K], { device: d, generator: g });
      const b = randn([SHAPE.K, SHAPE.N], { device: d, generator: g });
      const want = o.matmul(a, b);
      expect(d.chooser.pendingCount).toBe(1);
      await d.sync();
      expect(d.chooser.pendingCount).toBe(0);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { key: unknown; entries: Record<string, TuneEntry> };
      expect(saved.key).toEqual(tuneKey(d.info));
      const entry = saved.entries[`matmul ${gemmClass(SHAPE)}`]!;
      expect(Object.keys(entry.ms).sort()).toEqual(['default', 'tiled 64x64 k8']);
      for (const ms of Object.values(entry.ms)) expect(ms).toBeGreaterThan(0);
      expect(entry.clock).toBe(d.hasTimestamps ? 'gpu' : 'wall');
      // The values are the same whichever kernel the class now takes.
      expectClose(await o.matmul(a, b).read(), await want.read(), 1e-5, 1e-5, 'matmul after tuning');
      for (const t of [a, b, want]) t.dispose();
    } finally {
      await d.close();
    }
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { key: object; entries: Record<string, TuneEntry> };
    const d2 = await Device.create({ tuneCache: file });
    try {
      expect(d2.chooser.entry('matmul', gemmClass(SHAPE))).toEqual(saved.entries[`matmul ${gemmClass(SHAPE)}`]);
      expect(d2.chooser.state()).toMatchObject({ path: file, entries: 1, stale: null, fileExists: true });
    } finally {
      await d2.close();
    }
    // An entry drives the selection, on a software adapter too (it was measured there).
    writeCache(file, saved.key, { [`matmul ${gemmClass(SHAPE)}`]: TILED_ENTRY(SHAPE) });
    const d3 = await Device.create({ tuneCache: file });
    try {
      expect(matmulPlan(d3, SHAPE)).toEqual({ variant: 'tiled', tile: QUICK_TILE });
      // Another class, without an entry: today's kernel on a software adapter.
      if (d3.info.fallback) expect(matmulPlan(d3, { ...SHAPE, M: 400 }).variant).toBe('blocked');
    } finally {
      await d3.close();
    }
  });

  it('ignores the entries of a file written by another library version or for another adapter, and replaces them at the next save', () => {
    const info = dev().info;
    const cls = `matmul ${gemmClass(SHAPE)}`;
    for (const [other, why] of [[{ version: '0.0.0-old' }, /version '0.0.0-old' \(this device: '.+'\)/], [{ description: 'another GPU' }, /description 'another GPU'/]] as const) {
      const file = fresh();
      writeCache(file, { ...tuneKey(info), ...other }, { [cls]: TILED_ENTRY(SHAPE) });
      const t = new Tuner(info, { cachePath: file });
      expect(t.choose('matmul', gemmClass(SHAPE), SHAPE)).toBeUndefined();
      expect(t.state().stale).toMatch(why);
      t.save();
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ format: 1, key: tuneKey(info), entries: {} });
    }
    // A new library version invalidates what the current one wrote.
    const file = fresh();
    writeCache(file, tuneKey(info), { [cls]: TILED_ENTRY(SHAPE) });
    expect(new Tuner(info, { cachePath: file }).choose('matmul', gemmClass(SHAPE), SHAPE)).toEqual({ variant: 'tiled', tile: QUICK_TILE });
    const next = new Tuner(info, { cachePath: file, version: '99.0.0' });
    expect(next.choose('matmul', gemmClass(SHAPE), SHAPE)).toBeUndefined();
    expect(next.state().stale).toMatch(/version '.+' \(this device: '99.0.0'\)/);
  });

  it('honours ROBUSTGPU_TUNE_CACHE, keeps the default under $XDG_CACHE_HOME/robustgpu, and takes "off" for memory only', () => {
    const info = dev().info;
    process.env.ROBUSTGPU_TUNE_CACHE = join(dir, 'from-env.json');
    expect(new Tuner(info).path).toBe(join(dir, 'from-env.json'));
    delete process.env.ROBUSTGPU_TUNE_CACHE;
    process.env.XDG_CACHE_HOME = join(dir, 'xdg');
    const p = new Tuner(info).path!;
    expect(p.startsWith(join(dir, 'xdg', 'robustgpu', 'tune-'))).toBe(true);
    // One file per adapter, the same for every library version.
    expect(new Tuner(info, { version: '99.0.0' }).path).toBe(p);
    expect(new Tuner({ ...info, description: 'another GPU' }).path).not.toBe(p);
    const off = new Tuner(info, { cachePath: 'off' });
    expect(off.path).toBeNull();
    off.save();
  });

  it('retune times the classes met again, once, keeping their entries meanwhile and the entries of the others', () => {
    const info = dev().info;
    const file = fresh();
    writeCache(file, tuneKey(info), { 'matmul a': TILED_ENTRY(SHAPE), 'matmul b': TILED_ENTRY(SHAPE) });
    const t = new Tuner(info, { cachePath: file, autotune: true });
    expect(t.choose('matmul', 'a', SHAPE)).toEqual({ variant: 'tiled', tile: QUICK_TILE });
    expect(t.pendingCount).toBe(0);
    t.retune();
    expect(t.choose('matmul', 'a', SHAPE)).toEqual({ variant: 'tiled', tile: QUICK_TILE });
    expect(t.choose('matmul', 'a', SHAPE)).toEqual({ variant: 'tiled', tile: QUICK_TILE });
    expect(t.pendingCount).toBe(1);
    t.save();
    expect(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { entries: object }).entries).sort()).toEqual(['matmul a', 'matmul b']);
  });

  it('refuses a corrupt cache file, naming the file and what is wrong', () => {
    const info = dev().info;
    const file = fresh();
    writeFileSync(file, '{"format": 1, "key": ');
    expect(() => new Tuner(info, { cachePath: file }).choose('matmul', 'x', SHAPE)).toThrow(new RegExp(`tune cache ${file}: not JSON`));
    writeCache(file, tuneKey(info), { 'matmul x': { ...TILED_ENTRY(SHAPE), choice: { variant: 'tiled', tile: { tm: 5, tn4: 1, bk: 8 } } } });
    expect(() => new Tuner(info, { cachePath: file }).choose('matmul', 'x', SHAPE)).toThrow(/entry 'matmul x' has choice .*"tm":5.*not one the kernels are built for/);
  });

  it('without an entry, the cost model takes a tile on a GPU for large GEMMs only; a software adapter keeps today\'s kernels', () => {
    const gpu = (maxWorkgroupStorage: number): { run: () => void; maxOutputsPerThread: number; chooser: KernelChooser } =>
      ({ run: () => {}, maxOutputsPerThread: 128, chooser: { software: false, maxWorkgroupStorage, choose: () => undefined } });
    const cpu = { run: () => {}, chooser: { software: true, maxWorkgroupStorage: 32768, choose: () => undefined } };
    const big: GemmShape = { ...SHAPE, M: 2048, N: 2048, K: 1024 };
    expect(matmulPlan(gpu(32768), big)).toEqual({ variant: 'tiled', tile: { tm: 8, tn4: 2, bk: 16 } });
    expect(matmulPlan(gpu(32768), SHAPE).variant).toBe('blocked');
    expect(matmulPlan(gpu(32768), { ...big, M: 8 }).variant).toBe('blocked');
    // A device with 8 KiB of workgroup memory fits only the 64x64 tile at k16.
    expect(matmulPlan(gpu(8192), big)).toEqual({ variant: 'tiled', tile: { tm: 4, tn4: 1, bk: 16 } });
    expect(matmulPlan(cpu, big).variant).toBe('blocked');
    // ResNet-18's 3x3 64 -> 64 at 32x32, batch 32: tiled on a GPU; the first layer of a grey CNN keeps its kernels.
    const layer: ConvGeometry = { N: 32, C: 64, H: 32, W: 32, O: 64, OH: 32, OW: 32, KH: 3, KW: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 };
    expect(conv2dForwardPlan(gpu(32768), layer).kernel).toBe('tiled');
    expect(conv2dInputGradPlan(gpu(32768), layer).kernel).toBe('tiled');
    expect(conv2dWeightGradPlan(gpu(32768), layer).kernel).toBe('tiled');
    expect(conv2dForwardPlan(cpu, layer).kernel).toBe('blocked');
    const first: ConvGeometry = { ...layer, C: 1, H: 28, W: 28, OH: 28, OW: 28, O: 16 };
    expect(conv2dForwardPlan(gpu(32768), first).kernel).toBe('blocked');
    expect(conv2dWeightGradPlan(gpu(32768), first).kernel).toBe('taps');
  });
});

describe('speed toggles', () => {
  it("fast: true creates the device with Dawn's skip_validation, disable_robustness, disable_workgroup_init (validation is off), and computes the same", async () => {
    const d = await Device.create({ fast: true, tuneCache: 'off' });
    try {
      expect(d.info.toggles).toEqual([...FAST_TOGGLES]);
      const xs = Array.from({ length: 2 * 3 * 6 * 5 }, (_, i) => Math.sin(i));
      const ws = Array.from({ length: 4 * 3 * 9 }, (_, i) => Math.cos(i));
      const fast = await o.conv2d(tensor(xs, [2, 3, 6, 5], { device: d }), tensor(ws, [4, 3, 3, 3], { device: d }), { padding: 1 }).read();
      const plain = await o.conv2d(tensor(xs, [2, 3, 6, 5]), tensor(ws, [4, 3, 3, 3]), { padding: 1 }).read();
      expectClose(fast, plain, 0, 0, 'conv2d on the fast device');
      // The toggles reached Dawn: an invalid buffer usage (MAP_READ with STORAGE) is no longer reported.
      const invalid = async (g: GPUDevice) => {
        g.pushErrorScope('validation');
        g.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.MAP_READ }).destroy();
        return g.popErrorScope();
      };
      expect(await invalid(d.gpu)).toBeNull();
      expect(await invalid(dev().gpu)).not.toBeNull();
    } finally {
      await d.close();
    }
    expect(dev().info.toggles).toEqual([]);
  });
});
