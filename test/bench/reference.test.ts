/**
 * Joining a reference run (bench/torch/torch_bench.py's JSON) to our rows: matched by suite and name, our
 * throughput as a fraction of the reference's; a malformed file is refused before the run, naming the problem.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyReference, loadReference, type ReferenceRun } from '../../bench/reference.js';
import { runBench } from '../../bench/run.js';
import { formatTable, type BenchRow } from '../../bench/report.js';

const dir = mkdtempSync(join(tmpdir(), 'ref-'));
const write = (name: string, doc: unknown): string => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(doc));
  return p;
};
const run = (rows: ReferenceRun['rows']): ReferenceRun => ({ engine: 'PyTorch 2.11.0', device: 'NVIDIA H100', date: '2026-11-25', precision: 'float32, TF32 off', timing: 'CUDA events', rows });
const row = (suite: string, name: string, medianMs: number): BenchRow => ({ suite, name, shape: '', medianMs, clock: 'gpu', reps: 1 });

describe('reference runs', () => {
  it('matches rows by suite and name and gives its time over ours', () => {
    const ours = [row('matmul', '1024', 4), row('conv2d', 'resnet18 b32 3x3 64->64 32x32 fwd', 10), row('matmul', '512', 1)];
    const n = applyReference(ours, run([{ suite: 'matmul', name: '1024', medianMs: 1 }, { suite: 'conv2d', name: 'resnet18 b32 3x3 64->64 32x32 fwd', medianMs: 5 }, { suite: 'step', name: '1024', medianMs: 9 }]));
    expect(n).toBe(2);
    expect(ours.map((r) => r.ofReference)).toEqual([0.25, 0.5, undefined]);
    const head = formatTable(ours).split('\n')[0]!;
    expect(head).toContain('of ref');
    expect(formatTable([row('matmul', '1', 1)]).split('\n')[0]).not.toContain('of ref');
  });

  it('refuses a missing file, a non-reference JSON and a row without a positive time, naming the file', () => {
    expect(() => loadReference(join(dir, 'nope.json'))).toThrow(/cannot read '.*nope\.json'/);
    expect(() => loadReference(write('list.json', [1, 2]))).toThrow(/is not a reference run \('engine' must be a string/);
    expect(() => loadReference(write('row.json', run([{ suite: 'matmul', name: '1', medianMs: 0 }])))).toThrow(/rows\[0\] needs suite and name strings and a positive medianMs/);
    expect(loadReference(write('ok.json', run([{ suite: 'matmul', name: '256', medianMs: 2 }]))).rows).toHaveLength(1);
  });

  it('runBench --against: the matched row carries the fraction, the header names the reference, --json-out writes the report', async () => {
    const ref = write('ref.json', run([{ suite: 'matmul', name: '256', medianMs: 2 }]));
    const jsonFile = join(dir, 'report.json');
    let text = '';
    const report = await runBench({ quick: true, reps: 1, filter: 'matmul 256', against: ref, jsonFile, out: (s) => { text += s; }, progress: null });
    const mm = report.rows.find((r) => r.suite === 'matmul' && r.name === '256')!;
    expect(mm.ofReference).toBeCloseTo(2 / mm.medianMs, 9);
    expect(report.header.reference).toMatchObject({ engine: 'PyTorch 2.11.0', matched: 1 });
    expect(text).toMatch(/reference: PyTorch 2.11.0 on NVIDIA H100/);
    const { readFileSync } = await import('node:fs');
    expect((JSON.parse(readFileSync(jsonFile, 'utf8')) as { rows: BenchRow[] }).rows.length).toBe(report.rows.length);
    await expect(runBench({ quick: true, reps: 1, filter: 'matmul 256', against: join(dir, 'missing.json'), progress: null })).rejects.toThrow(/cannot read/);
  });
});
