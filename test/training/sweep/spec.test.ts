/** Sweep specs (training/sweep/spec.ts): grids, references and their dependencies, hashes, refusals naming job and key. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandSweep, SweepSpecError } from '../../../training/sweep/spec.js';
import { withEta, type JobProgress } from '../../../training/sweep/run_job.js';
import { statusTable } from '../../../cli/sweep.js';
import type { JobStatus } from '../../../training/sweep/queue.js';

const spec = (jobs: unknown[], extra: Record<string, unknown> = {}) => ({ name: 's', out: '/tmp/sw', jobs, ...extra });

describe('sweep specs', () => {
  it('expands grids, resolves @references to outputs, and derives dependencies from them', () => {
    const s = expandSweep(spec([
      { id: 'base', kind: 'train', options: { objective: 'trades', epochs: 2 } },
      { id: 'ft', kind: 'train', options: { init: '@base', lr: 0.01 }, grid: { beta: [1, 6], seed: [0, 1] } },
      { id: 'check', kind: 'eval', options: { checkpoint: '@base', attacks: ['clean', 'pgd'] }, after: ['ft'] },
    ]));
    expect(s.dir).toBe('/tmp/sw');
    expect(s.jobs.map((j) => j.id)).toEqual(['base', 'ft[beta=1,seed=0]', 'ft[beta=1,seed=1]', 'ft[beta=6,seed=0]', 'ft[beta=6,seed=1]', 'check']);
    const ft = s.jobs[2]!;
    expect(ft.runDir).toBe('/tmp/sw/ft-beta1-seed1');
    expect(ft.options).toEqual({ init: join('/tmp/sw/base', 'checkpoints', 'last.safetensors'), lr: 0.01, beta: 1, seed: 1 });
    expect(ft.after).toEqual(['base']);
    expect(s.jobs[5]!.after.sort()).toEqual(['base', ...s.jobs.slice(1, 5).map((j) => j.id)].sort());
    expect(s.jobs[5]!.output).toBe('/tmp/sw/check/eval.json');
    // The hash is what the job computes: the same spec gives the same hashes, another option another one.
    const again = expandSweep(spec([{ id: 'base', kind: 'train', options: { objective: 'trades', epochs: 2 } }]));
    expect(again.jobs[0]!.hash).toBe(s.jobs[0]!.hash);
    const other = expandSweep(spec([{ id: 'base', kind: 'train', options: { objective: 'trades', epochs: 3 } }]));
    expect(other.jobs[0]!.hash).not.toBe(s.jobs[0]!.hash);
    expect(new Set(s.jobs.map((j) => j.hash)).size).toBe(s.jobs.length);
  });

  it("a soup's ingredients take every expansion of a grid job, and depend on them", () => {
    const s = expandSweep(spec([{ id: 'a', kind: 'train', grid: { seed: [0, 1] } }, { id: 's', kind: 'soup', options: { method: 'uniform', ingredients: ['@a'] } }]));
    const soup = s.jobs[2]!;
    expect(soup.options.ingredients).toEqual([s.jobs[0]!.output, s.jobs[1]!.output]);
    expect(soup.after).toEqual([s.jobs[0]!.id, s.jobs[1]!.id]);
    expect(soup.output).toBe('/tmp/sw/s/soup.safetensors');
  });

  it('a string option cannot name a grid of jobs', () => {
    expect(() => expandSweep(spec([
      { id: 'a', kind: 'train', grid: { seed: [0, 1] } },
      { id: 'e', kind: 'eval', options: { checkpoint: '@a' } },
    ]))).toThrow("job 'e': option 'checkpoint' refers to '@a', a grid of 2 jobs; use it in a list option");
  });

  it('refuses bad specs before anything runs, naming the job and the key', () => {
    const bad = (s: unknown, msg: string | RegExp) => expect(() => expandSweep(s, { what: 'spec.json' })).toThrow(msg);
    bad(spec([{ id: 'a', kind: 'train', options: { epochz: 2 } }]), /spec.json: job 'a': key 'epochz': unknown key/);
    bad(spec([{ id: 'a', kind: 'train', grid: { lr: [0.1, -1] } }]), /spec.json: job 'a\[lr=-1\]': key 'lr' expects a number > 0, got -1/);
    bad(spec([{ id: 'a', kind: 'eval', options: { attacks: ['clean'] } }]), "spec.json: job 'a': an eval job needs option 'checkpoint'");
    bad(spec([{ id: 'a', kind: 'train', options: { init: '@b' } }]), "spec.json: job 'a': option 'init' refers to '@b', which is not an earlier job");
    bad(spec([{ id: 'a', kind: 'train' }, { id: 'a', kind: 'train' }]), "job id 'a' is used twice");
    bad(spec([{ id: 'a', kind: 'soup!' }]), /job 'a': 'kind' expects one of train, eval/);
    bad(spec([{ id: 'a', kind: 'train', grid: { seed: [] } }]), "grid 'seed' expects a non-empty list");
    bad({ name: 's', jobs: [], extra: 1 }, "unknown key 'extra'");
    bad(spec([{ id: 'a', kind: 'train' }, { id: 's', kind: 'soup', options: { method: 'stew', ingredients: ['@a'] } }]), /job 's': a soup job needs option 'method' \(one of curve, uniform, greedy, grid, learned\), got "stew"/);
    bad(spec([{ id: 'a', kind: 'train' }, { id: 's', kind: 'soup', options: { method: 'curve', ingredients: ['@a'] } }]), "spec.json: job 's': curve: expected two ingredient checkpoints, got 1");
    bad(spec([{ id: 'a', kind: 'train', grid: { seed: [0, 1] } }, { id: 's', kind: 'soup', options: { method: 'learned', ingredients: ['@a'], temperature: 0 } }]), /job 's': key 'temperature' expects a number > 0, got 0/);
    expect(() => expandSweep([])).toThrow(SweepSpecError);
  });

  it("progress carries the phase's ETA (from where the phase began, a resume's fraction included), and the status table shows it", () => {
    let t = 0;
    const seen: JobProgress[] = [];
    const report = withEta((p) => seen.push(p), () => t);
    report({ phase: 'train', fraction: 0.5 }); // resumed halfway: no rate yet
    t = 10_000;
    report({ phase: 'train', fraction: 0.6, loss: 1.5 }); // 10% in 10 s: 40 s left
    t = 12_000;
    report({ phase: 'eval pgd-20', fraction: 0 }); // a new phase starts its own clock
    t = 14_000;
    report({ phase: 'eval pgd-20', fraction: 0.25 });
    expect(seen.map((p) => (p.etaSeconds === undefined ? undefined : Number(p.etaSeconds.toFixed(9))))).toEqual([undefined, 40, undefined, 6]);
    const row: JobStatus = { id: 'fit', state: 'active', progress: { ...seen[1]! }, worker: 'w1', attempts: 1, result: null, failedReason: null };
    expect(statusTable([row])).toMatch(/^fit +active +60% train loss 1\.500 ETA 40s +w1 +1/m);
  });
});
