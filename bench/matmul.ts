/** The matmul suite: square GEMMs, and GEMM shapes that convolutions and the classifier of a CIFAR ResNet lower to. */
import { Generator, randn } from '../engine/rng.js';
import { keep } from '../engine/scope.js';
import { matmul } from '../engine/ops/index.js';
import type { BenchContext } from './context.js';

export interface MatmulCase {
  /** Without the suite name: the row reads 'matmul 256'. */
  name: string;
  M: number; K: number; N: number;
  transA?: boolean; transB?: boolean;
  /** What the shape stands for. */
  note?: string;
}

export const squareCase = (n: number): MatmulCase => ({ name: String(n), M: n, K: n, N: n });

export function matmulCases(quick: boolean): MatmulCase[] {
  const cases = [256, 512, 1024].map(squareCase);
  if (quick) return cases;
  return [
    ...cases,
    squareCase(2048),
    // im2col GEMM of a 3x3 conv, 512 -> 512 channels on 4x4 maps, batch 8 (ResNet-18 stage 4 on CIFAR)
    { name: 'conv 512ch 4x4', M: 128, K: 4608, N: 512, note: 'im2col of 3x3 conv 512->512, 4x4, batch 8' },
    // the same for 64 -> 64 channels on 32x32 maps, batch 2 (stage 1): tall and narrow
    { name: 'conv 64ch 32x32', M: 2048, K: 576, N: 64, note: 'im2col of 3x3 conv 64->64, 32x32, batch 2' },
    // weight gradient of a 3x3 conv 128 -> 128 on 16x16, batch 2: im2col^T @ dY, A read transposed
    { name: 'dW 128ch 16x16', M: 1152, K: 512, N: 128, transA: true, note: 'dW of 3x3 conv 128->128, 16x16, batch 2' },
    // ResNet-18's classifier at batch 128, forward and weight gradient (x^T @ dY)
    { name: 'linear 512->10 b128', M: 128, K: 512, N: 10, transB: true, note: 'fc forward, x W^T' },
    { name: 'linear dW 512->10 b128', M: 10, K: 128, N: 512, transA: true, note: 'fc weight gradient, dY^T x' },
  ];
}

export const matmulFlops = (c: MatmulCase): number => 2 * c.M * c.N * c.K;

/** Times y = op(a) @ op(b) on normal data, as a row of `suite` (the peak probe uses this too). */
export async function benchMatmul(ctx: BenchContext, c: MatmulCase, suite = 'matmul'): Promise<void> {
  const g = new Generator(1234);
  const device = ctx.device;
  // kept out of the scopes the timing loop opens: disposed below
  const a = keep(randn(c.transA ? [c.K, c.M] : [c.M, c.K], { device, generator: g }));
  const b = keep(randn(c.transB ? [c.N, c.K] : [c.K, c.N], { device, generator: g }));
  try {
    await ctx.measure({
      suite, name: c.name, shape: `${c.M}x${c.K}x${c.N} ${c.transA ? 'A^T' : 'A'}${c.transB ? 'B^T' : 'B'}`, notes: c.note,
      flops: matmulFlops(c), bytes: 4 * (c.M * c.K + c.K * c.N + c.M * c.N),
    }, () => matmul(a, b, { transA: c.transA, transB: c.transB }));
  } finally {
    a.dispose();
    b.dispose();
  }
}

export async function matmulSuite(ctx: BenchContext): Promise<void> {
  for (const c of matmulCases(ctx.quick)) {
    if (ctx.wants('matmul', c.name)) await ctx.group('matmul', [c.name], () => benchMatmul(ctx, c));
  }
}
