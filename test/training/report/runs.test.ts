import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finalStop, readRun, readRuns, RunDirError, runNames } from '../../../training/report/runs.js';
import { tempDir, writeRun } from './fixture.js';

const metricsOf = (dir: string) => join(dir, 'metrics.jsonl');

describe('readRun', () => {
  it('reads the configuration with its sources, the step, epoch and stop records and the final evaluation', () => {
    const dir = writeRun(join(tempDir(), 'trades-eps0.1'));
    const run = readRun(dir);
    expect(run.name).toBe('trades-eps0.1');
    expect(run.config.resolved).toMatchObject({ model: 'smallcnn', objective: 'trades', eps: 0.1 });
    expect(run.config.sources).toMatchObject({ eps: 'config', epochs: 'flag', model: 'default' });
    expect(run.steps.map((s) => s.step)).toEqual([50, 100, 150, 200, 250, 300]);
    expect(run.epochs.map((e) => e.eval)).toEqual([{ clean: 0.6, pgd: 0.3 }, { clean: 0.65, pgd: 0.34 }, { clean: 0.7, pgd: 0.38 }]);
    expect(finalStop(run)).toEqual({ type: 'stop', reason: 'done', step: 300, epoch: 3, message: undefined });
    expect(run.eval!.rows.map((r) => [r.attack, r.accuracy])).toEqual([['clean', 0.8612], ['pgd-20', 0.5237], ['autoattack (standard)', 0.4815]]);
    expect(run.eval!.rows[1]!.settings).toMatchObject({ steps: 20 });
    expect(run.eval!.checks.map((c) => c.ok)).toEqual([true, false]);
    expect(run.warnings).toEqual([]);
  });

  it('a run without eval.json has eval null; one without metrics.jsonl says so in a warning', () => {
    const dir = writeRun(tempDir(), { final: null });
    expect(readRun(dir).eval).toBeNull();
    writeFileSync(metricsOf(dir), '');
    expect(readRun(dir).steps).toEqual([]);
    const bare = tempDir();
    writeFileSync(join(bare, 'config.json'), JSON.stringify({ resolved: {} }));
    expect(readRun(bare).warnings).toEqual([expect.stringMatching(/metrics\.jsonl: not found/)]);
  });

  it('a truncated last line (a killed run) is dropped with a warning naming file:line', () => {
    const dir = writeRun(tempDir());
    appendFileSync(metricsOf(dir), '{"type":"step","epoch":3,"step":350,"lo');
    const run = readRun(dir);
    expect(run.steps.at(-1)!.step).toBe(300);
    expect(run.warnings).toEqual([`${metricsOf(dir)}:11: the last line is cut short (the run was stopped while writing it?) and is ignored`]);
  });

  it('a malformed line that is not the last, or ends with its newline, is an error naming file:line', () => {
    const dir = writeRun(tempDir());
    const lines = readFileSync(metricsOf(dir), 'utf8').split('\n');
    lines[3] = '{"type":"step","epoch":0,';
    writeFileSync(metricsOf(dir), lines.join('\n'));
    expect(() => readRun(dir)).toThrow(RunDirError);
    expect(() => readRun(dir)).toThrow(`${metricsOf(dir)}:4: not valid JSON`);
    writeFileSync(metricsOf(dir), '{"type":"step","epoch":0,"step":50,"lo\n');
    expect(() => readRun(dir)).toThrow(`${metricsOf(dir)}:1: not valid JSON`);
  });

  it('a record with a wrong field names file:line, the field, the expected and the received value', () => {
    const dir = writeRun(tempDir());
    const bad = (line: string) => { writeFileSync(metricsOf(dir), `${JSON.stringify({ type: 'step', epoch: 0, step: 1, loss: 1 })}\n${line}\n`); return () => readRun(dir); };
    expect(bad('{"type":"step","epoch":0,"step":"50","loss":1}')).toThrow(`${metricsOf(dir)}:2: step: expected an integer >= 0, got "50"`);
    expect(bad('{"type":"epoch","epoch":0,"step":50,"loss":1,"eval":{"clean":81}}')).toThrow(`${metricsOf(dir)}:2: eval.clean: expected an accuracy in [0, 1], got 81`);
    expect(bad('{"type":"stop","step":50,"epoch":0}')).toThrow(`${metricsOf(dir)}:2: reason: expected a non-empty string, got nothing`);
    expect(bad('[1, 2]')).toThrow(`${metricsOf(dir)}:2: the record: expected an object, got [1,2]`);
  });

  it('a non-finite loss (written as null) is kept as null; unknown record types are counted in a warning', () => {
    const dir = writeRun(tempDir());
    writeFileSync(metricsOf(dir), '{"type":"step","epoch":0,"step":50,"loss":null}\n{"type":"resume","step":50}\n{"type":"resume","step":50}\n');
    const run = readRun(dir);
    expect(run.steps[0]!.loss).toBeNull();
    expect(run.warnings).toEqual([`${metricsOf(dir)}: 2 record(s) of type 'resume' not shown (known: step, epoch, stop)`]);
  });

  it('a resume from an earlier checkpoint: the later records replace the earlier ones from that step on', () => {
    const dir = writeRun(tempDir());
    const rec = (step: number, loss: number) => JSON.stringify({ type: 'step', epoch: 0, step, loss });
    writeFileSync(metricsOf(dir), [rec(50, 3), rec(100, 2), rec(150, 1), '{"type":"stop","reason":"time-limit","step":150,"epoch":0}', rec(100, 2.5), rec(150, 1.5), '{"type":"stop","reason":"done","step":150,"epoch":1}', ''].join('\n'));
    const run = readRun(dir);
    expect(run.steps.map((s) => [s.step, s.loss])).toEqual([[50, 3], [100, 2.5], [150, 1.5]]);
    expect(run.stops.map((s) => s.reason)).toEqual(['time-limit', 'done']);
    expect(run.warnings).toEqual([expect.stringContaining(':5: step 100 follows step 150 (a resume from an earlier checkpoint?): it replaces the 2 earlier record(s)')]);
  });

  it('config.json and eval.json errors name the file and the JSON path', () => {
    const dir = writeRun(tempDir());
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, '{"resolved": {"eps": 0.1},\n "sources": {"eps": "cli"}}');
    expect(() => readRun(dir)).toThrow(`${cfg}: sources.eps: expected one of default, config, flag, init, got "cli"`);
    writeFileSync(cfg, '{"command": "train"}');
    expect(() => readRun(dir)).toThrow(`${cfg}: resolved: expected an object, got nothing`);
    writeFileSync(cfg, '{"resolved": {}');
    expect(() => readRun(dir)).toThrow(`${cfg}: not valid JSON`);
    writeFileSync(cfg, '{"resolved": {}}');
    const ev = join(dir, 'eval.json');
    writeFileSync(ev, JSON.stringify({ n: 10, rows: [{ attack: 'clean', accuracy: 0.5 }, { attack: 'pgd-20', accuracy: 52.4 }] }));
    expect(() => readRun(dir)).toThrow(`${ev}: rows[1].accuracy: expected a number >= 0 <= 1, got 52.4`);
    writeFileSync(ev, JSON.stringify({ n: 10, rows: [], checks: [{ name: 'x', ok: 'yes' }] }));
    expect(() => readRun(dir)).toThrow(`${ev}: checks[0].ok: expected true or false, got "yes"`);
  });

  it('a missing directory, a file, or a directory without config.json is an error; a folder of runs is pointed at', () => {
    const root = tempDir();
    expect(() => readRun(join(root, 'nope'))).toThrow(`${join(root, 'nope')}: no such directory`);
    writeFileSync(join(root, 'file.txt'), 'x');
    expect(() => readRun(join(root, 'file.txt'))).toThrow(/not a directory/);
    writeRun(join(root, 'a'));
    writeRun(join(root, 'b'));
    mkdirSync(join(root, 'empty'));
    expect(() => readRun(root)).toThrow(`${root}: not a run directory: no config.json (it holds 2 run directories: ${join(root, 'a')}, ${join(root, 'b')})`);
    expect(() => readRun(join(root, 'empty'))).toThrow(/no config\.json$/);
  });
});

describe('the files training/run.ts writes', () => {
  it('are read as they are: extra fields ignored, the epoch eval keyed clean/robust, rows with budget and nested settings', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), `${JSON.stringify({ command: 'train', version: '0.1.0', started: '2026-12-02T10:00:00.000Z', resolved: { model: 'smallcnn', milestones: [], finalEval: ['clean', 'pgd'], noDecayBnBias: false }, sources: { model: 'default', milestones: 'default', finalEval: 'flag', noDecayBnBias: 'default' } }, null, 2)}\n`);
    writeFileSync(join(dir, 'metrics.jsonl'), [
      { type: 'step', epoch: 0, step: 50, loss: 1.9, trainAccuracy: 0.4, lr: 0.05, imagesPerSec: 812.3, skipped: 0 },
      { type: 'epoch', epoch: 0, step: 93, loss: 1.7, trainAccuracy: 0.45, seconds: 30.2, eval: { clean: 0.71, robust: 0.42 } },
      { type: 'stop', reason: 'max-steps', step: 93, epoch: 1 },
    ].map((r) => `${JSON.stringify(r)}\n`).join(''));
    writeFileSync(join(dir, 'eval.json'), `${JSON.stringify({ n: 500, norm: 'linf', eps: 0.1, seed: 0, rows: [
      { attack: 'clean', settings: {}, accuracy: 0.7, correct: '1011', seconds: 0.4 },
      { attack: 'pgd-20', settings: { eps: 0.1, norm: 'linf', steps: 20, restarts: 1, alpha: 0.0125, start: 'uniform', loss: 'ce' }, accuracy: 0.4, correct: '1001', seconds: 9.1, budget: { maxExcess: -1e-9, maxOutside: 0 } },
    ], checks: [], warnings: [] }, null, 2)}\n`);
    const run = readRun(dir);
    expect(run.warnings).toEqual([]);
    expect(run.epochs[0]!.eval).toEqual({ clean: 0.71, robust: 0.42 });
    expect(run.eval!.rows[1]!.settings).toMatchObject({ start: 'uniform', loss: 'ce' });
    expect(finalStop(run)!.reason).toBe('max-steps');
  });
});

describe('runNames', () => {
  it("is each directory's name, with as much of the path as it takes to tell runs apart", () => {
    expect(runNames(['/x/sweep/lr0.1', '/x/sweep/lr0.05'])).toEqual(['lr0.1', 'lr0.05']);
    expect(runNames(['/x/a/run', '/x/b/run'])).toEqual(['a/run', 'b/run']);
    expect(() => runNames(['/x/a', '/x/b/../a'])).toThrow('/x/b/../a: the same run directory is given twice');
  });

  it('readRuns names the runs that way', () => {
    const root = tempDir();
    const runs = readRuns([writeRun(join(root, 'p', 'run')), writeRun(join(root, 'q', 'run'))]);
    expect(runs.map((r) => r.name)).toEqual(['p/run', 'q/run']);
  });
});
