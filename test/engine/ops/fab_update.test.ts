/** fab_update: the audit (GPU against the float64 reference, every combination of the masks) and refused shapes. */
import { describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { tensor } from '../../../engine/create.js';
import { fabUpdate } from '../../../engine/ops/index.js';

const dev = useDevice();

describe('fab_update', () => {
  it('passes the audit against its float64 reference', async () => {
    const [row] = await runAudit(dev(), { ops: ['fab_update'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.cases).toBe(4);
  });

  it('refuses mismatched shapes, naming them', () => {
    const x = tensor(new Float32Array(6), [2, 3]);
    const m = tensor([1, 0]);
    expect(() => fabUpdate(x, tensor(new Float32Array(6), [3, 2]), x, { wrong: m, closer: m }, { beta: 0.9 })).toThrow(/x0 has shape \[3, 2\], expected moved's \[2, 3\]/);
    expect(() => fabUpdate(x, x, x, { wrong: tensor([1, 0, 1]), closer: m }, { beta: 0.9 })).toThrow(/wrong must be \[2\] \(one per example\), got \[3\]/);
  });
});
