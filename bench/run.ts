/** Benchmark entry point (the CLI's `bench` command calls runBench). */
import { Device, type DeviceOptions } from '../engine/device.js';
import { benchMatmul, matmulCases } from './matmul.js';

export interface BenchRow {
  suite: string;
  name: string;
  /** M x K x N and which operands are read transposed. */
  shape: string;
  note?: string;
  flops: number;
  medianMs: number;
  minMs: number;
  gflops: number;
  reps: number;
}

export interface BenchOptions {
  /** Runs only the cases whose name contains this (case-insensitive). */
  filter?: string;
  /** Prints one JSON document instead of the table. */
  json?: boolean;
  /** Square matmuls only, with fewer repetitions. */
  quick?: boolean;
  /** Timed repetitions per case (default 10, 3 when quick). */
  reps?: number;
  /** Adapter and backend choice, as for Device.create. */
  device?: DeviceOptions;
}

function method(hasTimestamps: boolean): string {
  return 'own timing loop (not benchmark.js); wall clock from recording the op to queue completion (device.sync()), ' +
    'median over the repetitions after a warm-up of compile + 2 runs; timestamp-query is ' +
    (hasTimestamps ? 'available on this adapter but not used yet.' : 'not available on this adapter.');
}

export async function runBench(opts: BenchOptions = {}): Promise<BenchRow[]> {
  const reps = opts.reps ?? (opts.quick ? 3 : 10);
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`bench: reps must be a positive integer, got ${reps}`);
  const filter = opts.filter?.toLowerCase();
  const cases = matmulCases(!!opts.quick).filter((c) => !filter || c.name.toLowerCase().includes(filter));
  const device = await Device.create(opts.device);
  const { vendor, architecture, description, backend } = device.info;
  const how = method(device.info.features.includes('timestamp-query'));
  const adapter = { vendor, architecture, description, backend };
  const date = new Date().toISOString();
  if (!opts.json) {
    console.log(`robustgpu bench, ${date}`);
    console.log(`adapter: ${[vendor, architecture, description].filter(Boolean).join(' / ')} (backend ${backend})`);
    console.log(`timing: ${how}`);
    console.log('');
  }
  const rows: BenchRow[] = [];
  try {
    if (!opts.json && cases.length) console.log(tableLine(['case', 'shape (MxKxN)', 'median ms', 'GFLOP/s', 'reps']));
    for (const c of cases) {
      const row = await benchMatmul(device, c, reps);
      rows.push(row);
      if (!opts.json) console.log(tableLine([row.name, row.shape, row.medianMs.toFixed(2), row.gflops.toFixed(2), String(row.reps)]));
    }
    if (!opts.json && !cases.length) console.log(`no benchmark matches filter '${opts.filter}'`);
  } finally {
    device.destroy();
  }
  if (opts.json) console.log(JSON.stringify({ date, adapter, method: how, reps, rows }, null, 2));
  return rows;
}

const WIDTHS = [24, 22, 10, 8, 5];

function tableLine(cells: string[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(WIDTHS[i]!) : c.padStart(WIDTHS[i]!))).join('  ');
}
