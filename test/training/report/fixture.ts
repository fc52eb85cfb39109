/** Run directories written the way the training loop writes them (config.json, metrics.jsonl, eval.json). */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

export interface FixtureRun {
  /** Accuracies of eval.json's rows, or null for no eval.json. */
  final?: { clean: number; pgd: number; autoattack?: number } | null;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Multiplies every loss (tells runs apart in a comparison). */
  lossScale?: number;
  lr?: number;
  objective?: string;
}

/** Held-out accuracies of epochs 0, 1, 2, 3 (repeating). */
export const CLEAN = [0.6, 0.65, 0.7, 0.72];
export const PGD = [0.3, 0.34, 0.38, 0.39];

export function tempDir(prefix = 'report-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a finished run into `dir` (created); the epoch records hold clean and pgd held-out accuracies. */
export function writeRun(dir: string, r: FixtureRun = {}): string {
  const epochs = r.epochs ?? 3;
  const per = r.stepsPerEpoch ?? 100;
  const scale = r.lossScale ?? 1;
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    command: 'train', version: '0.1.0', started: '2026-12-02T10:00:00.000Z',
    resolved: { model: 'smallcnn', objective: r.objective ?? 'trades', eps: 0.1, lr: r.lr ?? 0.05, epochs, batch: 128 },
    sources: { model: 'default', objective: r.objective ? 'flag' : 'default', eps: 'config', lr: r.lr ? 'flag' : 'default', epochs: 'flag', batch: 'default' },
  }, null, 2));
  const lines: object[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let s = 50; s <= per; s += 50) {
      const step = e * per + s;
      lines.push({ type: 'step', epoch: e, step, loss: scale * (2 / (1 + step / 100)), trainAccuracy: 0.5 + 0.1 * e, lr: 0.05, imagesPerSec: 800, time: step / 10 });
    }
    lines.push({ type: 'epoch', epoch: e, step: (e + 1) * per, loss: scale * (1.5 - 0.2 * e), trainAccuracy: 0.55 + 0.1 * e, seconds: 10, eval: { clean: CLEAN[e % 4], pgd: PGD[e % 4] } });
  }
  lines.push({ type: 'stop', reason: 'done', step: epochs * per, epoch: epochs });
  writeFileSync(join(dir, 'metrics.jsonl'), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const final = r.final === undefined ? { clean: 0.8612, pgd: 0.5237, autoattack: 0.4815 } : r.final;
  if (final) {
    const rows = [
      { attack: 'clean', accuracy: final.clean, seconds: 1.2, settings: {}, correct: '1101' },
      { attack: 'pgd-20', accuracy: final.pgd, seconds: 34.5, settings: { eps: 0.1, norm: 'linf', steps: 20, restarts: 1, alpha: 0.0125 }, correct: [1, 0, 0, 1] },
      ...(final.autoattack === undefined ? [] : [{ attack: 'autoattack (standard)', accuracy: final.autoattack, seconds: 612, settings: { eps: 0.1, norm: 'linf', version: 'standard', attacks: ['apgd-ce', 'apgd-t', 'fab-t', 'square'], afterEach: [{ attack: 'apgd-ce', robust: 0.5 }] } }]),
    ];
    writeFileSync(join(dir, 'eval.json'), JSON.stringify({
      n: 10000, norm: 'linf', eps: 0.1, seed: 0, rows,
      checks: [{ name: 'pgd below clean', ok: true, detail: '52.37% <= 86.12%' }, { name: 'more steps do not help', ok: false, detail: 'PGD-100 is 0.4 points below PGD-20' }],
      warnings: ['sanity check failed: more steps do not help: PGD-100 is 0.4 points below PGD-20'],
    }, null, 2));
  }
  return dir;
}

/** Well-formedness: every element closed in order, one root <svg>; returns the element count. */
export function checkXml(svg: string): number {
  expect(svg.startsWith('<svg ')).toBe(true);
  expect(svg.endsWith('</svg>')).toBe(true);
  const stack: string[] = [];
  let count = 0;
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) expect.fail(`</${name}> at offset ${m.index} closes <${open}>`);
    } else {
      count++;
      if (!self) stack.push(name!);
      else if (stack.length === 0) expect.fail(`<${name}/> at offset ${m.index} is outside the root`);
    }
  }
  expect(stack, 'unclosed elements').toEqual([]);
  expect(svg.replace(/<[^>]*>/g, '')).not.toMatch(/[<>]/);
  return count;
}

/** The texts of the SVG's text marks of a role (axis-title, legend-label, title-text, mark: the point labels). */
export const texts = (svg: string, role: string) => [...svg.matchAll(new RegExp(`<g class="mark-text role-${role}(?: [^"]*)?"[^>]*>(.*?)</g>`, 'g'))]
  .flatMap((g) => [...g[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]));
