import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { CHECK_TOLERANCE, JAX, OURS, TFJS, comparePeers, formatPeerRows, peerTargets, type PeerRow } from '../../bench/peers/index.js';
import { installedVersion, whyNot } from '../../bench/peers/env.js';
import { relError } from '../../bench/peers/runner.js';
import { HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, OIHW_TO_HWIO, flopsOf, permute4, uniform, WORKLOADS } from '../../bench/peers/workloads.js';

const dev = useDevice();
const installed = [
  ...(installedVersion('@tensorflow/tfjs-backend-webgpu') ? [TFJS] : []),
  ...(installedVersion('@jax-js/jax') ? [JAX] : []),
];

function expectPeersRan(rows: PeerRow[], workload: string): void {
  const ours = rows.find((r) => r.workload === workload && r.engine === OURS)!;
  expect(ours, `our row for ${workload}`).toBeDefined();
  expect(ours.medianMs).toBeGreaterThan(0);
  expect(ours.gflops).toBeGreaterThan(0);
  for (const engine of installed) {
    const r = rows.find((x) => x.workload === workload && x.engine === engine);
    expect(r, `${engine} row for ${workload} (our notes: ${ours.notes})`).toBeDefined();
    expect(r!.relErr, `${engine}: ${r!.notes}`).toBeLessThanOrEqual(CHECK_TOLERANCE);
    expect(r!.oursSpeedup).toBeCloseTo(r!.medianMs / ours.medianMs, 6);
  }
  if (installed.length) expect(ours.oursSpeedup).toBeGreaterThan(0);
}

describe('peer comparison', () => {
  it('runs matmul 512 on ours and every installed peer on the shared device, with results that agree', async () => {
    const before = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    const rows = await comparePeers(dev(), { filter: 'matmul 512', reps: 1, warmup: 1 });
    expect(new Set(rows.map((r) => r.workload))).toEqual(new Set(['matmul 512']));
    expectPeersRan(rows, 'matmul 512');
    expect(rows.every((r) => r.suite === 'peers' && r.name === `${r.workload} / ${r.engine}` && r.flops === 2 * 512 ** 3)).toBe(true);
    // navigator is put back, and our device still works after the peers used it
    expect(Object.getOwnPropertyDescriptor(globalThis, 'navigator')).toEqual(before);
    await dev().sync();
    expect(formatPeerRows(rows)).toContain('| matmul 512');
  });

  it('runs the small-CNN training step from the same weights: the peers\' losses match ours', async () => {
    const rows = await comparePeers(dev(), { filter: 'small-cnn', reps: 1, warmup: 1 });
    expectPeersRan(rows, 'small-CNN SGD step b64 28x28x1');
    expect(rows[0]!.imagesPerSec).toBeGreaterThan(0);
    const t = peerTargets(rows);
    expect(t).toHaveLength(1);
    expect(t[0]!.pass).toBe(installed.length ? rows[0]!.oursSpeedup! >= 2 : null);
  });

  it('without peers gives our rows only, and a filter that matches nothing gives none', async () => {
    const rows = await comparePeers(dev(), { filter: ['matmul 512'], reps: 1, warmup: 1, peers: [] });
    expect(rows.map((r) => r.engine)).toEqual([OURS]);
    expect(await comparePeers(dev(), { filter: 'no such workload' })).toEqual([]);
  });
});

describe('peer comparison helpers', () => {
  it('lists the issue\'s workloads with their FLOPs', () => {
    expect(WORKLOADS.map((w) => w.name)).toContain('matmul 1024');
    expect(flopsOf(WORKLOADS.find((w) => w.name === 'matmul 1024')!)).toBe(2 * 1024 ** 3);
  });
  it('transposes layouts both ways', () => {
    const x = uniform(2 * 3 * 4 * 5, 1);
    const nhwc = permute4(x, [2, 3, 4, 5], NCHW_TO_NHWC);
    expect(nhwc[1]).toBe(x[4 * 5]); // (n0, h0, w0, c1) = (n0, c1, h0, w0)
    expect(Array.from(permute4(nhwc, [2, 4, 5, 3], NHWC_TO_NCHW))).toEqual(Array.from(x));
    const hwio = permute4(x, [2, 3, 4, 5], OIHW_TO_HWIO);
    expect(Array.from(permute4(hwio, [4, 5, 3, 2], HWIO_TO_OIHW))).toEqual(Array.from(x));
  });
  it('relError compares against the largest magnitude and flags NaN', () => {
    expect(relError(Float32Array.of(1, 2.002), Float32Array.of(1, 2))).toBeCloseTo(0.001, 6);
    expect(relError(Float32Array.of(NaN, 1), Float32Array.of(NaN, 1))).toBe(0);
    expect(relError(Float32Array.of(NaN, 1), Float32Array.of(0, 1))).toBeNaN();
    expect(relError(Float32Array.of(1), Float32Array.of(1, 2))).toBe(Infinity);
  });
  it('says "peer not installed" for a missing package', () => {
    expect(whyNot('@jax-js/jax', Object.assign(new Error('x'), { code: 'ERR_MODULE_NOT_FOUND' }))).toMatch(/^peer not installed/);
    expect(whyNot('@jax-js/jax', new Error('boom\nstack'))).toBe('@jax-js/jax failed: boom');
    expect(installedVersion('surely-not-a-package-robustgpu')).toBeNull();
  });
});
