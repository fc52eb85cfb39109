/** The matmul suite: square GEMMs, and GEMM shapes that convolutions of a CIFAR ResNet lower to. */
import type { Device } from '../engine/device.js';
import { Generator, randn } from '../engine/rng.js';
import { keep } from '../engine/scope.js';
import { matmul } from '../engine/ops/index.js';
import { timeOp } from './timing.js';
import type { BenchRow } from './run.js';

export interface MatmulCase {
  name: string;
  M: number; K: number; N: number;
  transA?: boolean; transB?: boolean;
  /** What the shape stands for, for the table. */
  note?: string;
}

export function matmulCases(quick: boolean): MatmulCase[] {
  const cases: MatmulCase[] = [256, 512, 1024].map((n) => ({ name: `matmul ${n}`, M: n, K: n, N: n }));
  if (quick) return cases;
  return [
    ...cases,
    // im2col GEMM of a 3x3 conv, 512 -> 512 channels on 4x4 maps, batch 8 (ResNet-18 stage 4 on CIFAR)
    { name: 'matmul conv 512ch 4x4', M: 128, K: 4608, N: 512, note: '3x3 conv 512->512, 4x4, batch 8' },
    // the same for 64 -> 64 channels on 32x32 maps, batch 2 (stage 1): tall and narrow
    { name: 'matmul conv 64ch 32x32', M: 2048, K: 576, N: 64, note: '3x3 conv 64->64, 32x32, batch 2' },
    // weight gradient of a 3x3 conv 128 -> 128 on 16x16, batch 2: im2col^T @ dY, A read transposed
    { name: 'matmul dW 128ch 16x16', M: 1152, K: 512, N: 128, transA: true, note: 'dW of 3x3 conv 128->128, 16x16, batch 2' },
  ];
}

export async function benchMatmul(device: Device, c: MatmulCase, reps: number): Promise<BenchRow> {
  const g = new Generator(1234);
  // kept out of any scope the caller has open: disposed below
  const a = keep(randn(c.transA ? [c.K, c.M] : [c.M, c.K], { device, generator: g }));
  const b = keep(randn(c.transB ? [c.N, c.K] : [c.K, c.N], { device, generator: g }));
  try {
    const t = await timeOp(device, () => matmul(a, b, { transA: c.transA, transB: c.transB }), { reps });
    const flops = 2 * c.M * c.N * c.K;
    const ops = `${c.transA ? 'A^T' : 'A'}${c.transB ? 'B^T' : 'B'}`;
    return {
      suite: 'matmul', name: c.name, shape: `${c.M}x${c.K}x${c.N} ${ops}`, note: c.note,
      flops, medianMs: t.medianMs, minMs: t.minMs, gflops: flops / (t.medianMs * 1e6), reps: t.reps,
    };
  } finally {
    a.dispose();
    b.dispose();
  }
}
