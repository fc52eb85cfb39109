/**
 * The matmul kernel at every per-thread block chooseBlock can pick, on a lavapipe or a GPU register budget
 * (kernels/matmul.ts): odd sizes, both transposes, batched, scalar and vec4 reads of b, against float64.
 */
import { describe, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { empty, tensor } from '../../../engine/create.js';
import { runMatmul } from '../../../kernels/matmul.js';

const dev = useDevice();

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
