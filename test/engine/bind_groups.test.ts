/**
 * The recorder's bind-group cache (engine/recorder.ts): a repeated dispatch on the same buffers reuses its
 * bind group while its uniform parameters still change per dispatch (dynamic offsets into the arena); a
 * buffer the pool destroys takes its bind groups with it; a long loop without an await stays flat
 * (without the cache and the forced collections lavapipe crashed after ~60k dispatches); breathe() waits for the
 * GPU once thousands of bind groups were made since the last wait (a W-TRADES fine-tune crashed lavapipe without it).
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { useDevice, expectClose } from '../helpers.js';
import { Device } from '../../engine/device.js';
import { tensor } from '../../engine/create.js';
import { scope } from '../../engine/scope.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();
const devices: Device[] = [];
afterAll(async () => { for (const d of devices) await d.close(); });

describe('bind groups', () => {
  it('are reused for the same kernel and buffers, with each dispatch still reading its own parameters', async () => {
    const d = dev();
    const x = tensor([1, 2, 3, 4]);
    const out = scope(() => {
      // Warm: the pool and the cache hold what the loop needs.
      o.scaleShift(x, 1, 0).dispose();
      d.flush();
      const before = d.stats().bindGroupsCreated;
      const ys = [];
      for (let k = 0; k < 6; k++) ys.push(o.scaleShift(x, k, -k));
      return { ys, made: d.stats().bindGroupsCreated - before };
    });
    // Six outputs are six buffers, but the input side repeats: at most one group per distinct output buffer.
    expect(out.made).toBeLessThanOrEqual(6);
    for (let k = 0; k < 6; k++) expectClose(await out.ys[k]!.read(), [1, 2, 3, 4].map((v) => v * k - k), 0, 0, `scale ${k}`);
    for (const y of out.ys) y.dispose();
    x.dispose();
  });

  it('a repeated step creates no new bind group once warm, and its parameters change every time', async () => {
    const d = dev();
    const x = tensor([0.5, -1, 2]);
    const got: number[][] = [];
    let warm = 0;
    for (let step = 0; step < 5; step++) {
      if (step === 2) warm = d.stats().bindGroupsCreated;
      const y = scope(() => o.sum(o.scaleShift(o.relu(x), step + 1, step)));
      got.push(Array.from(await y.read()));
      y.dispose();
    }
    expect(d.stats().bindGroupsCreated).toBe(warm);
    for (let step = 0; step < 5; step++) expectClose(got[step]!, [2.5 * (step + 1) + 3 * step], 1e-5, 1e-6, `step ${step}`);
    x.dispose();
  });

  it('buffers destroyed by the pool drop their bind groups, and later work on new buffers is right', async () => {
    // A tiny budget makes the pool destroy free buffers as shapes change.
    const d = await Device.create({ memoryBudgetBytes: 64 * 1024 });
    devices.push(d);
    for (let n = 1000; n < 9000; n += 1000) {
      const x = tensor(Float32Array.from({ length: n }, (_, i) => i % 7), [n], { device: d });
      const y = scope(() => o.sum(o.scaleShift(x, 2, 1)));
      const want = 2 * Array.from({ length: n }, (_, i) => i % 7).reduce((a, b) => a + b, 0) + n;
      expectClose(await y.read(), [want], 0, 1e-5, `n ${n}`);
      x.dispose();
      y.dispose();
    }
    expect(d.pool.buffersDestroyed).toBeGreaterThan(0);
  });

  it('60k dispatches without an await keep the process alive and the groups bounded', async () => {
    const d = dev();
    const x = tensor([1, 2, 3, 4]);
    let y = o.scaleShift(x, 1, 0);
    for (let i = 0; i < 60000; i++) {
      // Fresh temporaries each time: the cache sees new buffers until the pool repeats them.
      const z = o.scaleShift(y, 1, 2 ** -16); // exact in float32 all the way
      y.dispose();
      y = z;
    }
    const v = await y.read();
    expectClose(v, [1, 2, 3, 4].map((a) => a + 60000 * 2 ** -16), 0, 0);
    expect(d.stats().bindGroupsCreated).toBeLessThan(60000);
    y.dispose();
    x.dispose();
  });

  it('breathe() waits for the GPU only after thousands of new bind groups since the last wait', async () => {
    const d = await Device.create();
    devices.push(d);
    const ts = Array.from({ length: 70 }, (_, i) => tensor([i], [1], { device: d }));
    await d.sync();
    const sync = vi.spyOn(d, 'sync');
    await d.breathe();
    expect(sync).not.toHaveBeenCalled();
    const made = d.stats().bindGroupsCreated;
    // every pair binds a new combination of buffers: 4900 new bind groups, no wait in between
    for (const a of ts) for (const b of ts) o.add(a, b).dispose();
    expect(d.stats().bindGroupsCreated - made).toBeGreaterThan(4096);
    await d.breathe();
    expect(sync).toHaveBeenCalledTimes(1);
    await d.breathe();
    expect(sync, 'quiet again after the wait').toHaveBeenCalledTimes(1);
    for (const t of ts) t.dispose();
  });
});
