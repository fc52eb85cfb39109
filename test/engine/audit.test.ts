import { describe, expect, it } from 'vitest';
import { useDevice } from '../helpers.js';
import { runAudit } from '../../engine/audit.js';
import { defineOp, registeredOps } from '../../engine/op.js';
import { noGrad } from '../../engine/tape.js';
import { refMap } from '../../engine/ref/tensor.js';
import * as o from '../../engine/ops/index.js';

const dev = useDevice();

describe('the gradient audit', () => {
  it('passes for every registered op: GPU vs float64 reference, gradients, and finite differences', async () => {
    const rows = await runAudit(dev(), { ops: registeredOps().map((d) => d.name).filter((n) => !n.startsWith('wrong_')) });
    const failures = rows.flatMap((r) => r.failures.map((f) => `${r.op}: ${f}`));
    expect(failures, failures.join('\n')).toEqual([]);
    expect(rows.length).toBeGreaterThan(30);
  });
});

describe('the audit catches', () => {
  // Ops registered here exist only in this test file's module graph (vitest isolates files).
  const scale2 = (x: import('../../engine/tensor.js').Tensor) => o.scaleShift(x, 2, 0);
  const mk = (name: string, refScale: number, gpuGrad: number, refGrad: number) =>
    defineOp<Record<string, never>>({
      name,
      forward: ([x]) => noGrad(() => scale2(x!)),
      backward: (g) => [o.scaleShift(g, gpuGrad, 0)],
      reference: {
        forward: ([x]) => refMap(x!, (v) => v * refScale),
        backward: ([x], _, __, g) => [refMap(x!, (_v, i) => g.data[i]! * refGrad)],
      },
      audit: [{ name: `${name} [5]`, shapes: [[5]], attrs: {} }],
    });
  mk('wrong_forward', 3, 2, 3);
  mk('wrong_backward', 2, 3, 2);
  mk('wrong_reference_gradient', 2, 3, 3);

  it.each([
    ['wrong_forward', 'forward'],
    ['wrong_backward', 'gradient'],
    ['wrong_reference_gradient', 'finite-diff'],
  ])('%s (a %s mismatch)', async (op, check) => {
    const [row] = await runAudit(dev(), { ops: [op] });
    expect(row!.pass).toBe(false);
    expect(row!.failures.join('\n')).toContain(check);
  });
});
