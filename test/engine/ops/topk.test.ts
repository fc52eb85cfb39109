/**
 * topk: the audit (both outputs' forward, the values' gradient alone and with the indices present), the
 * ordering rules AutoAttack relies on (ties: the later position first; NaN first), argsort, and errors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { tensor } from '../../../engine/create.js';
import { topk, argsortDescending } from '../../../engine/ops/index.js';

const dev = useDevice();

describe('topk', () => {
  it('passes the audit: values and indices forward, the values gradient against float64 and finite differences', async () => {
    const [row] = await runAudit(dev(), { ops: ['topk'] });
    expect(row!.failures, row!.failures.join('\n')).toEqual([]);
    expect(row!.gradient).not.toBeNull();
  });

  it('ranks ties the later position first and NaN above every number, as a stable ascending sort read backwards', async () => {
    const { values, indices } = topk(tensor([[2, 5, 5, NaN, -1], [0, 0, 0, 1, 0]]), 3);
    expect(Array.from(await indices.read())).toEqual([3, 2, 1, 3, 4, 2]);
    const v = Array.from(await values.read());
    expect(Number.isNaN(v[0])).toBe(true);
    expect(v.slice(1)).toEqual([5, 5, 1, 0, 0]);
  });

  it('argsortDescending gives a permutation of every row', async () => {
    const x = tensor(Array.from({ length: 3 * 17 }, (_, i) => Math.sin(i * 1.7)), [3, 17]);
    const idx = Array.from(await argsortDescending(x).read());
    const xs = Array.from(await x.read());
    for (let r = 0; r < 3; r++) {
      const row = idx.slice(r * 17, (r + 1) * 17);
      expect([...row].sort((a, b) => a - b)).toEqual(Array.from({ length: 17 }, (_, i) => i));
      for (let t = 1; t < 17; t++) expect(xs[r * 17 + row[t - 1]!]!).toBeGreaterThanOrEqual(xs[r * 17 + row[t]!]!);
    }
  });

  it('refuses k outside [0, last dim], naming both', () => {
    const x = tensor([[1, 2, 3]]);
    expect(() => topk(x, 4)).toThrow(/topk: k must be an integer in \[0, 3\] \(the last dimension of x \[1, 3\]\), got 4/);
    expect(() => topk(x, 1.5)).toThrow(/got 1\.5/);
  });
});
