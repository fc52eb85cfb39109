/**
 * What a suite gets: the device, the mode, the filter (asked before anything is built, so filtered-out cases
 * cost nothing), and `measure`, which times one case with the shared loop and turns it into a row. Suites only
 * describe cases (names, counts, what to record); timing, rates and printing live here and in report.ts.
 */
import { DeviceLostError, type Device } from '../engine/device.js';
import { timeInterleaved, type Recorder } from './timing.js';
import { withRates, type BenchRow, type TargetCheck } from './report.js';

export interface CaseSpec {
  suite: string;
  name: string;
  shape: string;
  /** FLOPs and compulsory bytes of one repetition, where defined. */
  flops?: number;
  bytes?: number;
  /** Images one repetition processes (whole steps). */
  images?: number;
  notes?: string;
  /** Untimed runs after the compiling one (default 2). */
  warmup?: number;
  /** Overrides the run's repetitions (whole steps in quick mode). */
  reps?: number;
}

export class BenchContext {
  readonly rows: BenchRow[] = [];
  readonly targets: TargetCheck[] = [];
  readonly skipped: { suite: string; name: string; reason: string }[] = [];
  private readonly t0 = performance.now();

  constructor(
    readonly device: Device,
    readonly quick: boolean,
    readonly reps: number,
    /** Lower-case substrings; a case runs when `${suite} ${name}` contains one. null: everything. */
    private readonly filters: string[] | null,
    private readonly progress: ((line: string) => void) | null,
    /** Whether the user fixed the repetitions (then whole steps use them too). */
    readonly repsGiven: boolean,
  ) {}

  wants(suite: string, name: string): boolean {
    if (!this.filters) return true;
    const key = `${suite} ${name}`.toLowerCase();
    return this.filters.some((f) => key.includes(f));
  }

  /** Times `record` and appends the row (rates filled in; fractions of peak come at the end of the run). */
  async measure(spec: CaseSpec, record: Recorder): Promise<BenchRow> {
    return (await this.measureTogether([[spec, record]]))[0]!;
  }

  /**
   * Times cases whose times are compared with each other interleaved, round by round (the repetitions and
   * warm-up of the first spec apply to all).
   */
  async measureTogether(cases: [CaseSpec, Recorder][]): Promise<BenchRow[]> {
    const first = cases[0]![0];
    const times = await timeInterleaved(this.device, cases.map(([, r]) => r), { reps: first.reps ?? this.reps, warmup: first.warmup });
    return cases.map(([spec], i) => {
      const t = times[i]!;
      const row = withRates({
        suite: spec.suite, name: spec.name, shape: spec.shape, reps: t.reps, cpuMs: t.cpuMs,
        ...(t.gpuMs !== undefined
          ? { medianMs: t.gpuMs, minMs: t.gpuMinMs, clock: 'gpu' as const, wallMs: t.medianMs }
          : { medianMs: t.medianMs, minMs: t.minMs, clock: 'wall' as const }),
        flops: spec.flops, bytes: spec.bytes, dispatches: t.dispatches, submissions: t.submissions, notes: spec.notes,
      }, spec.images);
      this.rows.push(row);
      this.log(`${row.suite} ${row.name}: ${row.medianMs.toFixed(1)} ms`);
      return row;
    });
  }

  /** Adds rows measured elsewhere (the peer comparison). */
  add(rows: BenchRow[]): void {
    this.rows.push(...rows);
  }

  log(line: string): void {
    this.progress?.(`[${((performance.now() - this.t0) / 1e3).toFixed(0).padStart(5)} s] ${line}`);
  }

  /**
   * Runs one group of cases (e.g. the four steps of one model); if it throws (out of memory, a shape a kernel
   * refuses), its selected cases not yet measured are reported as skipped and the run goes on. A lost device
   * ends the run.
   */
  async group(suite: string, names: string[], fn: () => Promise<void>): Promise<void> {
    const before = this.rows.length;
    try {
      await fn();
    } catch (e) {
      if (e instanceof DeviceLostError) throw e;
      const done = new Set(this.rows.slice(before).map((r) => r.name));
      const reason = ((e as Error).message ?? String(e)).split('\n')[0]!;
      for (const n of names) if (this.wants(suite, n) && !done.has(n)) this.skipped.push({ suite, name: n, reason });
      this.log(`${suite}: skipped ${names.filter((n) => !done.has(n)).join(', ')}: ${reason}`);
      // Errors the device reported asynchronously belong to the failed group, not to the next one.
      await this.device.sync().catch(() => {});
    }
  }
}
