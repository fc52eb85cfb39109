/**
 * The evaluation protocol of METHODS §8 on a fixed set of N examples: clean accuracy, FGSM (a masking
 * canary), PGD-k with restarts, APGD-CE / APGD-T, AutoAttack, and the sanity checks that catch a broken or
 * masked evaluation (PGD <= FGSM; monotone in eps and in iterations; about 0% at a large eps; Square not
 * stronger than the white-box attacks; AutoAttack <= PGD). An example counts as robust under an attack
 * only if it is correctly classified clean and at the attack's point. Every row keeps its per-example
 * correctness, settings and wall time; the examples run in batches, with the per-example results on the
 * GPU until the row is done.
 */
import * as o from '../engine/ops/index.js';
import { Generator } from '../engine/rng.js';
import { tensor } from '../engine/create.js';
import { keep, scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import type { AttackBnMode } from './bn_mode.js';
import { apgd, apgdTargeted } from './attacks/apgd.js';
import { autoAttack } from './attacks/autoattack.js';
import { eachTarget } from './attacks/targets.js';
import { misclassified } from './attacks/objective.js';
import { fgsm, pgd } from './attacks/pgd.js';
import type { AttackResult } from './attacks/result.js';
import { budgetExcess, budgetReport, checkThreat, type Norm } from './attacks/threat.js';
import { distributionalAccuracy } from './attacks/distributional.js';

export const EVAL_ATTACKS = ['clean', 'fgsm', 'pgd', 'apgd-ce', 'apgd-t', 'autoattack', 'distributional'] as const;
export type EvalAttack = (typeof EVAL_ATTACKS)[number];

export interface EvaluateOptions {
  norm: Norm;
  eps: number;
  /** Which rows, in order (default: clean, fgsm, pgd, autoattack). */
  attacks?: readonly EvalAttack[];
  /** PGD iterations and restarts (default 20 and 1; step 2.5 eps / steps). */
  pgdSteps?: number;
  pgdRestarts?: number;
  /** APGD iterations (default 100). */
  apgdSteps?: number;
  /** AutoAttack version (default 'standard'), and its iterations and Square queries (default 100 and 5000, AutoAttack's). */
  autoAttackVersion?: 'standard' | 'plus';
  autoAttackSteps?: number;
  autoAttackQueries?: number;
  /** W_2 budgets of the distributional rows (default eps/4, eps/2, eps; L-inf cost for an L-inf threat, L2 for L2). */
  deltas?: number[];
  batchSize?: number;
  /** Run the sanity checks (extra PGD runs on at most `checkExamples` examples; default true, 500). */
  checks?: boolean;
  checkExamples?: number;
  bnMode?: AttackBnMode;
  seed?: number;
  /** Progress of the row being computed: examples done of N. */
  onProgress?: (row: string, done: number, total: number) => void;
}

export interface EvalRow {
  attack: string;
  settings: Record<string, unknown>;
  accuracy: number;
  /** Per example: correctly classified clean and under this attack. */
  correct: Uint8Array;
  seconds: number;
  /** The largest distance outside the budget over the batch (<= 0 up to float32 rounding), and outside [0, 1]. */
  budget?: { maxExcess: number; maxOutside: number };
}

export interface SanityCheck { name: string; ok: boolean; detail: string }

export interface EvalReport {
  n: number;
  norm: Norm;
  eps: number;
  seed: number;
  rows: EvalRow[];
  checks: SanityCheck[];
  warnings: string[];
}

type BatchAttack = (x: Tensor, y: Tensor, g: Generator) => AttackResult | Promise<AttackResult>;

/** Per-example clean correctness (1: the eval-mode forward classifies it right), batch by batch. */
async function cleanCorrect(model: Module, x: Tensor, y: Tensor, batchSize: number): Promise<Uint8Array> {
  const n = x.shape[0]!;
  const parts: Tensor[] = [];
  try {
    model.eval();
    for (let s = 0; s < n; s += batchSize) {
      parts.push(keep(scope(() => noGrad(() => o.sub(1, misclassified(model.forward(o.slice(x, 0, s, Math.min(n, s + batchSize))), o.slice(y, 0, s, Math.min(n, s + batchSize))))))));
      await x.device.sync();
    }
    const all = noGrad(() => (parts.length === 1 ? parts[0]!.clone() : o.concat(parts)));
    const v = await all.read();
    all.dispose();
    return Uint8Array.from(v, (c) => (c ? 1 : 0));
  } finally {
    for (const t of parts) t.dispose();
  }
}

/**
 * Runs an attack batch by batch; returns per-example correctness (clean-correct and not fooled) and the budget
 * excess. Only the clean-correct examples are attacked, gathered into full batches (AutoAttack does the same):
 * a misclassified example is not robust whatever the attack does, so on a model with 80% clean accuracy a
 * fifth of the attack's work would be wasted. The clean correctness comes from `clean` when the clean row has
 * it already, else from an eval-mode pass.
 */
async function rowOf(model: Module, x: Tensor, y: Tensor, batchSize: number, name: string, attack: BatchAttack | null, seed: number, norm: Norm, eps: number,
  onProgress?: EvaluateOptions['onProgress'], clean?: Uint8Array): Promise<{ correct: Uint8Array; budget?: EvalRow['budget'] }> {
  const n = x.shape[0]!;
  if (!attack) {
    const correct = await cleanCorrect(model, x, y, batchSize);
    onProgress?.(name, n, n);
    return { correct };
  }
  const cleanOk = clean?.length === n ? clean : await cleanCorrect(model, x, y, batchSize);
  const chosen = Int32Array.from(Array.from(cleanOk.keys()).filter((i) => cleanOk[i]));
  const m = chosen.length;
  const correct = new Uint8Array(n);
  if (m === 0) {
    onProgress?.(name, 0, 0);
    return { correct };
  }
  const g = new Generator(seed);
  const parts: Tensor[] = [];
  const excess: Tensor[] = [];
  const index = keep(tensor(chosen, [m], { device: x.device }));
  try {
    for (let s = 0; s < m; s += batchSize) {
      const b = keep(scope(() => {
        const ib = o.slice(index, 0, s, Math.min(m, s + batchSize));
        return { xb: o.indexSelect(x, 0, ib, { unique: true }), yb: o.indexSelect(y, 0, ib, { unique: true }) };
      }));
      let r: { ok: Tensor; ex: Tensor };
      try {
        // The attack runs with grad mode on (it differentiates); its point is judged by a fresh eval forward.
        // A synchronous attack runs in a scope (its temporaries go with it); an async one scopes its own parts.
        model.eval();
        let pending: Promise<AttackResult> | null = null;
        const now = scope(() => {
          const v = attack(b.xb, b.yb, g);
          if (v instanceof Promise) { pending = v; return null; }
          return v;
        });
        const res = now ?? await (pending as Promise<AttackResult> | null)!;
        model.eval();
        r = scope(() => noGrad(() => ({ ok: o.sub(1, misclassified(model.forward(res.xAdv), b.yb)), ex: budgetExcess(b.xb, res.xAdv, norm, eps) })));
        for (const t of [res.xAdv, res.fooled, res.loss]) t.dispose();
      } finally {
        for (const t of [b.xb, b.yb]) t.dispose();
      }
      // Drained after every batch: a long stretch without an await never returns buffers or descriptor sets (attacks/targets.ts).
      await x.device.sync();
      parts.push(keep(r.ok));
      excess.push(keep(r.ex));
      onProgress?.(name, Math.min(m, s + batchSize), m);
    }
    const all = noGrad(() => (parts.length === 1 ? parts[0]!.clone() : o.concat(parts)));
    const ok = await all.read();
    all.dispose();
    chosen.forEach((i, j) => { correct[i] = ok[j] ? 1 : 0; });
    const ex = noGrad(() => scope(() => o.max(o.reshape(o.concat(excess), [-1, 2]), 0)));
    const [maxExcess, maxOutside] = Array.from(await ex.read());
    ex.dispose();
    return { correct, budget: { maxExcess: maxExcess!, maxOutside: maxOutside! } };
  } finally {
    for (const t of [...parts, ...excess, index]) t.dispose();
  }
}

const mean = (a: Uint8Array) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`evaluate: ${name} must be an integer >= 1, got ${String(v)}`);
  return v;
}

/** The §8 protocol on (x [N, ...], y int32 [N]); everything is importable, the `eval` command is a thin layer. */
export async function evaluate(model: Module, x: Tensor, y: Tensor, opts: EvaluateOptions): Promise<EvalReport> {
  const { norm, eps } = checkThreat('evaluate', opts);
  const attacks = [...(opts.attacks ?? ['clean', 'fgsm', 'pgd', 'autoattack'])];
  for (const a of attacks) if (!EVAL_ATTACKS.includes(a)) throw new RangeError(`evaluate: unknown attack ${JSON.stringify(a)} (known: ${EVAL_ATTACKS.join(', ')})`);
  const n = x.shape[0]!;
  if (y.rank !== 1 || y.shape[0] !== n) throw new RangeError(`evaluate: labels must be [${n}] to match x, got [${y.shape}]`);
  const batchSize = positiveInt('batchSize', opts.batchSize ?? 250);
  const pgdSteps = positiveInt('pgdSteps', opts.pgdSteps ?? 20);
  const pgdRestarts = positiveInt('pgdRestarts', opts.pgdRestarts ?? 1);
  const apgdSteps = positiveInt('apgdSteps', opts.apgdSteps ?? 100);
  const seed = opts.seed ?? 0;
  const bnMode = opts.bnMode ?? 'eval';
  const wasTraining = model.training;
  const rows: EvalRow[] = [];
  const warnings: string[] = [];
  const threat = { norm, eps, bnMode };
  // The clean row's correctness, for the attacks' rows to skip what is misclassified (the checks' subsets are prefixes).
  const cleanOf = (m: number) => rows.find((r) => r.attack === 'clean')?.correct.subarray(0, m);
  const run = async (name: string, settings: Record<string, unknown>, attack: BatchAttack | null, onX = x, onY = y, rowEps = eps) => {
    const t0 = performance.now();
    const r = await rowOf(model, onX, onY, batchSize, name, attack, seed, norm, rowEps, opts.onProgress, cleanOf(onX.shape[0]!));
    return { attack: name, settings, accuracy: mean(r.correct), correct: r.correct, seconds: (performance.now() - t0) / 1000, budget: r.budget };
  };
  try {
    for (const a of attacks) {
      switch (a) {
        case 'clean': rows.push(await run('clean', {}, null)); break;
        case 'fgsm': rows.push(await run('fgsm', { eps, norm }, (xb, yb, g) => fgsm(model, xb, yb, { ...threat, generator: g }))); break;
        case 'pgd': {
          const s = { eps, norm, steps: pgdSteps, restarts: pgdRestarts, alpha: (2.5 * eps) / pgdSteps, start: 'uniform', loss: 'ce' };
          rows.push(await run(`pgd-${pgdSteps}${pgdRestarts > 1 ? `x${pgdRestarts}` : ''}`, s, (xb, yb, g) => pgd(model, xb, yb, { ...threat, steps: pgdSteps, restarts: pgdRestarts, generator: g })));
          break;
        }
        case 'apgd-ce': rows.push(await run('apgd-ce', { eps, norm, steps: apgdSteps }, (xb, yb, g) => apgd(model, xb, yb, { ...threat, steps: apgdSteps, generator: g }))); break;
        case 'apgd-t': rows.push(await run('apgd-t', { eps, norm, steps: apgdSteps, targetClasses: 9 }, (xb, yb, g) => eachTarget(xb.device, 9, (rank) => apgdTargeted(model, xb, yb, { ...threat, steps: apgdSteps, generator: g, targetFrom: rank, targetClasses: 1 })))); break;
        case 'autoattack': {
          const t0 = performance.now();
          const version = opts.autoAttackVersion ?? 'standard';
          const rep = await autoAttack(model, x, y, {
            ...threat, version, batchSize, steps: opts.autoAttackSteps, queries: opts.autoAttackQueries, generator: new Generator(seed),
            onProgress: (att, done, total) => opts.onProgress?.(`autoattack ${att}`, done, total),
          });
          const excess = noGrad(() => budgetExcess(x, rep.xAdv, norm, eps));
          const ex = budgetReport(await excess.read(), eps);
          excess.dispose();
          rep.xAdv.dispose();
          warnings.push(...rep.warnings.map((w) => `AutoAttack: ${w}`));
          rows.push({
            attack: `autoattack (${version})`, settings: { eps, norm, version, steps: opts.autoAttackSteps ?? 100, queries: opts.autoAttackQueries ?? 5000, attacks: rep.attacks, afterEach: rep.rows }, accuracy: rep.robustAccuracy,
            correct: rep.robust, seconds: (performance.now() - t0) / 1000, budget: { maxExcess: ex.maxExcess, maxOutside: ex.maxOutside },
          });
          break;
        }
        case 'distributional': {
          // The W_2 budget is over the whole evaluated set, so these rows give no per-example correctness.
          for (const delta of opts.deltas ?? [eps / 4, eps / 2, eps]) {
            const t0 = performance.now();
            opts.onProgress?.(`distributional delta ${delta}`, 0, n);
            const r = await distributionalAccuracy(model, { x, y }, { delta, s: norm === 'linf' ? 1 : 2, batchSize, bnMode, generator: new Generator(seed) });
            opts.onProgress?.(`distributional delta ${delta}`, n, n);
            rows.push({
              attack: `distributional delta ${Number(delta.toPrecision(4))}`, accuracy: r.accuracy, correct: new Uint8Array(0), seconds: (performance.now() - t0) / 1000,
              settings: { delta, cost: norm, threat: 'W_2', by: r.by, components: r.rows, upsilon: r.upsilon ? { value: r.upsilon.upsilon, estimate: r.upsilon.estimate } : null },
            });
          }
          break;
        }
      }
    }
    for (const r of rows) {
      if (r.budget && !budgetReport([r.budget.maxExcess, r.budget.maxOutside], eps).ok) {
        warnings.push(`${r.attack}: a returned point lies outside the threat model (${r.budget.maxExcess.toExponential(2)} past eps, ${r.budget.maxOutside.toExponential(2)} outside [0, 1]): a bug, the row is not valid`);
      }
    }
    // The checks judge attacks: with none (a clean-only evaluation) there is nothing to check.
    const checks = opts.checks === false || attacks.every((a) => a === 'clean') ? [] : await sanityChecks(model, x, y, rows, { ...threat, batchSize, seed, checkExamples: positiveInt('checkExamples', opts.checkExamples ?? 500), pgdSteps, run });
    for (const c of checks) if (!c.ok) warnings.push(`sanity check failed: ${c.name}: ${c.detail}`);
    return { n, norm, eps, seed, rows, checks, warnings };
  } finally {
    model.train(wasTraining);
  }
}

interface CheckContext {
  norm: Norm; eps: number; bnMode: AttackBnMode; batchSize: number; seed: number; checkExamples: number; pgdSteps: number;
  run: (name: string, settings: Record<string, unknown>, attack: BatchAttack | null, onX?: Tensor, onY?: Tensor, rowEps?: number) => Promise<EvalRow>;
}

/** The checks of METHODS §8 that compare rows already computed (PGD <= FGSM, AutoAttack <= PGD, Square, distributional <= pointwise and within its budget). */
export function rowChecks(rows: readonly Pick<EvalRow, 'attack' | 'accuracy' | 'settings'>[]): SanityCheck[] {
  const out: SanityCheck[] = [];
  const find = (p: string) => rows.find((r) => r.attack.startsWith(p));
  const fg = find('fgsm');
  const pg = find('pgd');
  const aa = find('autoattack');
  for (const r of rows.filter((row) => row.attack.startsWith('distributional'))) {
    const comps = (r.settings.components ?? []) as { attack: string; accuracy: number; spent?: number }[];
    // The row is the minimum over its components, PGD included, so it is never above PGD: the check is whether
    // the distributional attacks themselves reach pointwise PGD, which spends the same W budget on every image.
    const pw = comps.find((cpt) => cpt.attack === 'PGD');
    const ws = comps.filter((cpt) => cpt.attack !== 'PGD');
    if (pw && ws.length) {
      const best = ws.reduce((m, cpt) => (cpt.accuracy < m.accuracy ? cpt : m));
      out.push({ name: `distributional <= pointwise at delta ${r.settings.delta}`, ok: best.accuracy <= pw.accuracy, detail: `${ws.map((cpt) => `${cpt.attack} ${pct(cpt.accuracy)}`).join(', ')}; pointwise PGD ${pct(pw.accuracy)} (the row reports the minimum, ${pct(r.accuracy)} by ${String(r.settings.by)})` });
    }
    const delta = Number(r.settings.delta);
    const spent = comps.filter((cpt) => cpt.spent !== undefined);
    // float32 sums of squares: a relative slack of 1e-4
    if (spent.length) out.push({ name: `within the W budget at delta ${delta}`, ok: spent.every((cpt) => cpt.spent! <= delta * (1 + 1e-4)), detail: spent.map((cpt) => `${cpt.attack} ${cpt.spent!.toPrecision(5)}`).join(', ') });
  }
  if (fg && pg) out.push({ name: 'PGD <= FGSM', ok: pg.accuracy <= fg.accuracy, detail: `PGD ${pct(pg.accuracy)}, FGSM ${pct(fg.accuracy)}` });
  if (aa && pg) out.push({ name: 'AutoAttack <= PGD', ok: aa.accuracy <= pg.accuracy, detail: `AutoAttack ${pct(aa.accuracy)}, PGD ${pct(pg.accuracy)}` });
  if (aa) {
    const each = (aa.settings.afterEach ?? []) as { attack: string; robustAccuracy: number }[];
    const sq = each.findIndex((r) => r.attack === 'square');
    if (sq > 0) out.push({ name: 'Square does not beat the white-box attacks', ok: each[sq]!.robustAccuracy >= each[sq - 1]!.robustAccuracy, detail: `${pct(each[sq - 1]!.robustAccuracy)} before Square, ${pct(each[sq]!.robustAccuracy)} after` });
  }
  return out;
}

/** METHODS §8's checks, from the rows already computed and a few PGD runs on a subset. */
async function sanityChecks(model: Module, x: Tensor, y: Tensor, rows: EvalRow[], c: CheckContext): Promise<SanityCheck[]> {
  const out = rowChecks(rows);
  const m = Math.min(x.shape[0]!, c.checkExamples);
  if (m === 0) return out;
  const xs = keep(noGrad(() => o.slice(x, 0, 0, m)));
  const ys = keep(noGrad(() => o.slice(y, 0, 0, m)));
  try {
    const at = async (eps: number, steps: number, alpha = (2.5 * eps) / steps) =>
      (await c.run(`check pgd-${steps} eps ${eps}`, {}, (xb, yb, g) => pgd(model, xb, yb, { norm: c.norm, eps, steps, alpha, bnMode: c.bnMode, generator: g }), xs, ys, eps)).accuracy;
    const half = await at(c.eps / 2, c.pgdSteps);
    const full = await at(c.eps, c.pgdSteps);
    // The same start and step size: the shorter run's iterates are a prefix of the longer one's.
    const fewSteps = Math.max(1, Math.floor(c.pgdSteps / 4));
    const few = await at(c.eps, fewSteps, (2.5 * c.eps) / c.pgdSteps);
    const large = c.norm === 'linf' ? 0.5 : 10 * c.eps;
    const huge = await at(large, c.pgdSteps * 2);
    out.push({ name: 'monotone in eps', ok: full <= half, detail: `PGD on ${m} examples: ${pct(half)} at eps/2, ${pct(full)} at eps` });
    out.push({ name: 'more iterations do not help the model', ok: full <= few, detail: `PGD on ${m} examples: ${pct(few)} with ${fewSteps} steps, ${pct(full)} with ${c.pgdSteps}` });
    out.push({ name: `about 0% at a large eps (${large})`, ok: huge <= 0.02, detail: `PGD-${c.pgdSteps * 2} on ${m} examples: ${pct(huge)}` });
  } finally {
    xs.dispose();
    ys.dispose();
  }
  return out;
}
