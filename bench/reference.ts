/**
 * Another engine's timings of the same rows, made elsewhere (bench/torch/torch_bench.py: PyTorch float32 on
 * the same card), read from a JSON file and joined to ours by suite and name: each matched row gets our
 * throughput as a fraction of the reference's (its median time / ours).
 */
import { readFileSync } from 'node:fs';
import type { BenchRow } from './report.js';

export interface ReferenceRow { suite: string; name: string; medianMs: number }

export interface ReferenceRun {
  /** E.g. 'PyTorch 2.11.0+cu130'. */
  engine: string;
  device: string;
  date: string;
  precision: string;
  timing: string;
  rows: ReferenceRow[];
}

/** Reads and checks a reference file; errors name the file and what is wrong. */
export function loadReference(path: string): ReferenceRun {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`bench --against: cannot read '${path}': ${(e as Error).message}`);
  }
  const bad = (what: string) => new Error(`bench --against: '${path}' is not a reference run (${what}); bench/torch/torch_bench.py writes one`);
  if (typeof doc !== 'object' || doc === null) throw bad('not a JSON object');
  const d = doc as Record<string, unknown>;
  for (const k of ['engine', 'device', 'date', 'precision', 'timing'] as const) if (typeof d[k] !== 'string') throw bad(`'${k}' must be a string, got ${JSON.stringify(d[k])}`);
  if (!Array.isArray(d.rows)) throw bad(`'rows' must be an array, got ${JSON.stringify(d.rows)}`);
  d.rows.forEach((r: unknown, i: number) => {
    const row = r as Record<string, unknown>;
    if (typeof row?.suite !== 'string' || typeof row.name !== 'string' || typeof row.medianMs !== 'number' || !(row.medianMs > 0)) {
      throw bad(`rows[${i}] needs suite and name strings and a positive medianMs, got ${JSON.stringify(r)}`);
    }
  });
  return doc as ReferenceRun;
}

/** Sets row.ofReference on every row the reference also timed; returns how many matched. */
export function applyReference(rows: BenchRow[], ref: ReferenceRun): number {
  const byKey = new Map(ref.rows.map((r) => [`${r.suite}\u0000${r.name}`, r]));
  let matched = 0;
  for (const row of rows) {
    const r = byKey.get(`${row.suite}\u0000${row.name}`);
    if (!r) continue;
    row.ofReference = r.medianMs / row.medianMs;
    matched++;
  }
  return matched;
}
