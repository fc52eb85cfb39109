/**
 * The matmul kernel at every per-thread block chooseBlock can pick, on a lavapipe or a GPU register budget
 * (kernels/matmul.ts): odd sizes, both transposes, batched, scalar and vec4 reads of b, against float64. The
 * workgroup-tiled kernel at each tile shape, and forced through the audit and the reference cases.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { empty, tensor } from '../../../engine/create.js';
import { join } from 'node:path';
import { matmulPlan, runMatmul } from '../../../kernels/matmul.js';
import { setKernelChoice } from '../../../kernels/choice.js';
import type { Kernel } from '../../../kernels/kernel.js';
import { runAudit } from '../../../engine/audit.js';
import { runCaseFiles } from '../../../engine/audit_cases.js';

const dev = useDevice();
const CASES = join(import.meta.dirname, '..', '..', 'cases');

function values(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5; });
}

/** y[b] = op(a[b]) @ op(b[b]) in float64, a and b stored as transA / transB say. */
function reference(a: number[], b: number[], M: number, N: number, K: number, batch: number, transA: boolean, transB: boolean): number[] {
  const y: number[] = [];
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[t * M * K + (transA ? k * M + i : i * K + k)]!;
          const bv = b[t * K * N + (transB ? j * K + k : k * N + j)]!;
          s += av * bv;
        }
        y.push(s);
      }
    }
  }
  return y;
}

describe('matmul blocks', () => {
  // 12 x 16 (lavapipe), 8 x 16 (a GPU's 128-output budget), 2 x 4 (small M and N).
  for (const block of [{ rows: 12, cols4: 4 }, { rows: 8, cols4: 4 }, { rows: 2, cols4: 1 }]) {
    it(`block ${block.rows}x${4 * block.cols4}: 37x52x29, batch 2, every transpose, vec4 and scalar b`, async () => {
      const [M, N, K, batch] = [37, 52, 29, 2];
      for (const [transA, transB] of [[false, false], [true, false], [false, true]] as const) {
        const av = values(batch * M * K, 3);
        const bv = values(batch * K * N, 4);
        const want = reference(av, bv, M, N, K, batch, transA, transB);
        for (const vecB of [true, false]) {
          const a = tensor(av, [batch * M * K]);
          const b = tensor(bv, [batch * K * N]);
          const y = empty(dev(), [batch * M * N]);
          runMatmul(dev(), a.storage.binding(), b.storage.binding(), y.storage.binding(), { M, N, K, batch, aStride: M * K, bStride: K * N, transA, transB, block, vecB });
          expectClose(await y.read(), want, 1e-5, 1e-4, `transA ${transA} transB ${transB} vec4 b ${vecB}`);
        }
      }
    });
  }
});

describe('matmul tiled', () => {
  const T64 = { tm: 4, tn4: 1, bk: 8 };
  const T128 = { tm: 8, tn4: 2, bk: 16 };
  // Odd sizes leave partial tiles, a partial last K step and every edge of the staged slices (scalar fetches);
  // 68x40x132 fetches four at a time as vec4 along every operand's contiguous dimension. Each (transposes, vec4)
  // pair is a pipeline that takes lavapipe seconds to compile, so only 64x64 k8 (half the threads idle while
  // fetching, 4x4 outputs per thread) meets every transpose; 128x128 k16 (two vec4s of rows and of columns per
  // thread), 128x64 k32 (four fetches per thread and operand) and 64x128 k16 meet one each.
  const runs: [typeof T64, [number, number, number], boolean, boolean][] = [
    ...[[37, 52, 29], [68, 132, 40]].flatMap((mnk) => [[false, false], [true, false], [false, true], [true, true]].map(([tA, tB]) => [T64, mnk, tA, tB] as [typeof T64, [number, number, number], boolean, boolean])),
    [T128, [68, 132, 40], false, false], [T128, [37, 52, 29], true, true],
    [{ tm: 8, tn4: 1, bk: 32 }, [37, 52, 29], false, false], [{ tm: 4, tn4: 2, bk: 16 }, [68, 132, 40], true, false],
  ];
  const check = async (which: typeof runs) => {
    for (const [tile, [M, N, K], transA, transB] of which) {
      const batch = 2;
      const av = values(batch * M * K, 5);
      const bv = values(batch * K * N, 6);
      const a = tensor(av, [batch * M * K]);
      const b = tensor(bv, [batch * K * N]);
      const y = empty(dev(), [batch * M * N]);
      runMatmul(dev(), a.storage.binding(), b.storage.binding(), y.storage.binding(), { M, N, K, batch, aStride: M * K, bStride: K * N, transA, transB, tile });
      expectClose(await y.read(), reference(av, bv, M, N, K, batch, transA, transB), 1e-5, 1e-4, `tile ${16 * tile.tm}x${64 * tile.tn4} k${tile.bk}, ${M}x${K}x${N} transA ${transA} transB ${transB}`);
    }
  };
  it('64x64 k8 against float64: odd and vec4-aligned sizes, batch 2, every transpose', () => check(runs.filter((r) => r[0] === T64)));
  it('128x128 k16, 128x64 k32, 64x128 k16 against float64', () => check(runs.filter((r) => r[0] !== T64)));

  it('forced for the process (setKernelChoice), passes the matmul audit and the reference cases; the tiled kernel is what ran', async () => {
    const d = dev();
    const seen = new Set<string>();
    const orig = d.run.bind(d);
    d.run = (k: Kernel, opts: Parameters<typeof orig>[1]) => { seen.add(k.name); orig(k, opts); };
    setKernelChoice('matmul', { variant: 'tiled', tile: T64 });
    try {
      const [row] = await runAudit(d, { ops: ['matmul'] });
      expect(row!.failures, row!.failures.join('\n')).toEqual([]);
      const cases = await runCaseFiles(d, [join(CASES, 'matmul.json')]);
      expect(cases.filter((c) => c.status !== 'pass').map((c) => `${c.case}: ${c.status} ${c.detail}`)).toEqual([]);
      expect(cases.length).toBeGreaterThan(20);
    } finally {
      setKernelChoice('matmul', null);
      d.run = orig;
    }
    expect(seen.has('matmul_tiled')).toBe(true);
    expect(seen.has('matmul')).toBe(false);
  });

  it('the normal selection keeps the register-blocked kernel on a software adapter; forcing an oversized tile names the limit', () => {
    const d = dev();
    const s = { M: 512, N: 512, K: 512, batch: 1, aStride: 0, bStride: 0, transA: false, transB: false };
    if (d.info.fallback) expect(matmulPlan(d, s).variant).toBe('blocked');
    expect(matmulPlan(d, { ...s, tile: T128 })).toEqual({ variant: 'tiled', tile: T128 });
    const tiny = { run: () => {}, chooser: { software: false, maxWorkgroupStorage: 8192, choose: () => undefined } };
    expect(() => matmulPlan(tiny, { ...s, tile: T128 })).toThrow(/stages 16384 bytes of workgroup memory, more than the device's 8192/);
  });
});
