/**
 * The Square attack (Andriushchenko et al. 2020), score-based and gradient-free, L-inf and L2, as AutoAttack runs
 * it (fra31/auto-attack square.py with p_init 0.8, 5000 queries, the margin loss, resc_schedule off; METHODS §1.3).
 * Per example: start from vertical stripes of +-eps (L-inf) or a grid of +-eta tiles scaled to norm eps (L2); then
 * each query proposes a random square window update (engine/ops/square_attack.ts) whose side follows the p
 * schedule, and keeps it only if the margin max_{j != y} z_j - z_y strictly rises. An example stops once its
 * margin is >= 0 (misclassified); one already misclassified at x is never moved.
 *
 * The GPU runs the whole batch every query, with the per-example bookkeeping (best point, best margin, still-open
 * mask) kept on it and updates of closed examples masked. Every `compactEvery` queries the still-open examples are
 * compacted into a smaller batch (compactIndices + index_select; one 4-byte readback), so a mostly-broken batch
 * gets cheap and an all-broken one stops; with compactEvery 0 nothing is read back at all.
 *
 * Deliberate differences from square.py (the distribution of one example's run is otherwise the same):
 * - every example draws its own window positions, signs and eta transposes (square.py draws one set per query for
 *   the whole batch, so its examples' runs are correlated);
 * - a window's top-left offset is uniform over all H - s + 1 positions: square.py draws randint(0, H - s), which
 *   never reaches the last one, so its windows never touch the last row or column of the image;
 * - an example that is not fooled returns its best (highest-margin) point, not x, with that margin as its loss
 *   (AttackResult's contract, as PGD's worst case);
 * - the L2 start grid works for images smaller than 5 pixels (tile side max(1, floor(H/5))) and cuts tiles at the
 *   border instead of failing.
 */
import * as o from '../../engine/ops/index.js';
import { squareDrawCount, squareEta } from '../../engine/ops/square_attack.js';
import { tensor } from '../../engine/create.js';
import { rand, type Generator } from '../../engine/rng.js';
import { keep, scope, track } from '../../engine/scope.js';
import { noGrad } from '../../engine/tape.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmt } from '../../engine/shape.js';
import type { Module } from '../../nn/module.js';
import { withAttackModeAsync, type AttackBnMode } from '../bn_mode.js';
import { misclassified } from './objective.js';
import type { AttackResult } from './result.js';
import { checkThreat, normalizePerExample, perExample, type Norm, type ThreatModel } from './threat.js';

export interface SquareOptions extends ThreatModel {
  /** Queries after the start point, one per still-open example each (AutoAttack: 5000). */
  queries?: number;
  /** The first window covers about this fraction of the pixels (AutoAttack: 0.8), in (0, 1]. */
  pInit?: number;
  /** Stretch the p schedule's breakpoints (set for 10000 queries) to `queries` (square.py's resc_schedule; AutoAttack: off). */
  rescaleSchedule?: boolean;
  /** Compact the still-open examples every this many queries (one 4-byte readback each); 0: never. Default 100. */
  compactEvery?: number;
  bnMode?: AttackBnMode;
  /** Every random draw of the attack comes from here. */
  generator: Generator;
}

export type SquareSettings = Required<SquareOptions>;

export function squareSettings(opts: SquareOptions): SquareSettings {
  const t = checkThreat('square', opts);
  const queries = opts.queries ?? 5000;
  if (typeof queries !== 'number' || !Number.isInteger(queries) || queries < 1) throw new RangeError(`square: queries must be a positive integer, got ${String(queries)}`);
  const pInit = opts.pInit ?? 0.8;
  if (typeof pInit !== 'number' || !(pInit > 0 && pInit <= 1)) throw new RangeError(`square: pInit must be in (0, 1], got ${String(pInit)}`);
  const compactEvery = opts.compactEvery ?? 100;
  if (typeof compactEvery !== 'number' || !Number.isInteger(compactEvery) || compactEvery < 0) throw new RangeError(`square: compactEvery must be an integer >= 0 (0: never), got ${String(compactEvery)}`);
  const bnMode = opts.bnMode ?? 'eval';
  if (bnMode !== 'eval' && bnMode !== 'train_frozen') throw new RangeError(`square: bnMode must be 'eval' or 'train_frozen', got ${JSON.stringify(bnMode)}`);
  return { ...t, queries, pInit, rescaleSchedule: opts.rescaleSchedule ?? false, compactEvery, bnMode, generator: opts.generator };
}

/** square.py's p_selection: the fraction of pixels a window covers at query `it` (0-based), halved at fixed breakpoints. */
export function squareP(it: number, s: Pick<SquareSettings, 'queries' | 'pInit' | 'rescaleSchedule'>): number {
  const at = s.rescaleSchedule ? Math.trunc((it / s.queries) * 10000) : it;
  const halved = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000].filter((b) => at > b).length;
  return s.pInit / 2 ** halved;
}

/** Python's round(): halves to even. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  return r > 0.5 ? f + 1 : r < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** The window side for a fraction p of the pixels: L-inf at least 1, L2 odd and at least 3; at most the image's side. */
export function squareSize(norm: Norm, p: number, [c, h, w]: readonly number[]): number {
  // In square.py's order of operations (p * n_features / c), which decides the rare exact halves.
  const side = roundHalfEven(Math.sqrt((p * (c! * h! * w!)) / c!));
  if (norm === 'linf') return Math.min(Math.max(side, 1), h!, w!);
  const odd = Math.max(side, 3);
  return Math.min(odd % 2 === 0 ? odd + 1 : odd, h!, w!);
}

/** A sign per element of a uniform draw: -1 below 0.5, +1 from it. */
const signs = (u: Tensor): Tensor => o.sub(o.mul(o.ge(u, 0.5), 2), 1);

/** L-inf start: x + eps times one random sign per example, channel and column (vertical stripes), clamped to [0, 1]. */
function linfStart(x: Tensor, eps: number, generator: Generator): Tensor {
  const [n, c, , w] = x.shape as [number, number, number, number];
  return o.clamp(o.add(x, o.mul(signs(rand([n, c, 1, w], { device: x.device, generator })), eps)), 0, 1);
}

/**
 * L2 start: a grid of s0 x s0 tiles (s0 = floor(H/5), the grid centred as square.py places it), tile t of
 * example n, channel c holding eta(s0) (transposed at random) times a random sign, scaled to norm eps, clamped.
 */
function l2Start(x: Tensor, eps: number, generator: Generator): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const s0 = Math.max(1, Math.floor(h / 5));
  const start = Math.max(0, Math.floor((h - 5 * s0) / 2));
  const [rows, cols] = [Math.floor(h / s0), Math.floor(w / s0)];
  const eta = squareEta(s0);
  const tile = new Int32Array(h * w).fill(-1);
  const plain = new Float32Array(h * w);
  const flipped = new Float32Array(h * w);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const [ti, tj] = [Math.floor((i - start) / s0), Math.floor((j - start) / s0)];
      if (i < start || j < start || ti >= rows || tj >= cols) continue;
      const [a, b] = [i - start - ti * s0, j - start - tj * s0];
      tile[i * w + j] = ti * cols + tj;
      plain[i * w + j] = eta[a * s0 + b]!;
      flipped[i * w + j] = eta[b * s0 + a]!;
    }
  }
  const opts = { device: x.device, generator };
  const tiles = rows * cols;
  const tileOf = tensor(tile, [h * w], { device: x.device });
  // Out-of-grid pixels index -1, which index_select reads as 0: no sign, so no perturbation there.
  const flip = o.indexSelect(rand([n, tiles], opts), 1, tileOf);
  const pattern = o.where(o.gt(flip, 0.5), tensor(flipped, [h * w], { device: x.device }), tensor(plain, [h * w], { device: x.device }));
  const sign = o.indexSelect(signs(rand([n * c, tiles], opts)), 1, tileOf);
  const delta = o.mul(o.reshape(pattern, [n, 1, h, w]), o.reshape(sign, [n, c, h, w]));
  return o.clamp(o.add(x, o.mul(normalizePerExample(delta, 'l2'), eps)), 0, 1);
}

/** The examples still being attacked: their rows of x and y, where they sit in the batch, and their bookkeeping. */
interface Active {
  /** int32 positions in the batch; null while the active set is the whole batch in order (x and y are then the caller's). */
  ids: Tensor | null;
  x: Tensor;
  y: Tensor;
  best: Tensor;
  /** The margin at `best`. */
  loss: Tensor;
  /** 1 while the example is still robust (correct at x, margin < 0). */
  open: Tensor;
}

class SquareRun {
  private readonly shape: [number, number, number, number];
  private readonly etas = new Map<number, Tensor>();
  /** The whole batch's best points and margins, once the active set is a subset (written back at each compaction). */
  private best: Tensor | null = null;
  private loss: Tensor | null = null;
  private active: Active | null = null;

  constructor(private readonly model: Module, private readonly x: Tensor, private readonly y: Tensor, private readonly s: SquareSettings) {
    this.shape = x.shape as [number, number, number, number];
  }

  /** The clean forward, the start point for the examples correct at x, and its margin. */
  start(): void {
    const { model, x, y, s } = this;
    // x and y stay the caller's: keep() would take them out of the caller's scopes.
    const init = keep(noGrad(() => scope(() => {
      const clean = model.forward(x);
      const correct = o.sub(1, misclassified(clean, y));
      const first = s.norm === 'linf' ? linfStart(x, s.eps, s.generator) : l2Start(x, s.eps, s.generator);
      const firstLoss = o.cwMargin(model.forward(first), y);
      return {
        best: o.where(perExample(correct, x), first, x),
        loss: o.where(correct, firstLoss, o.cwMargin(clean, y)),
        open: o.mul(correct, o.lt(firstLoss, 0)),
      };
    })));
    this.active = { ids: null, x, y, ...init };
  }

  private eta(size: number): Tensor {
    let t = this.etas.get(size);
    if (!t) {
      t = keep(tensor(Float32Array.from(squareEta(size)), [size, size], { device: this.x.device }));
      this.etas.set(size, t);
    }
    return t;
  }

  /** Query `it`: one candidate per active example, kept where the example is open and its margin rises. */
  step(it: number): void {
    const a = this.active!;
    const { s, model } = this;
    const size = squareSize(s.norm, squareP(it, s), this.shape.slice(1));
    const eta = s.norm === 'l2' ? this.eta(size) : null;
    const next = noGrad(() => scope(() => {
      const draws = rand([a.x.shape[0]!, squareDrawCount(s.norm, this.shape[1])], { device: a.x.device, generator: s.generator });
      const cand = eta ? o.squareL2Update(a.x, a.best, draws, eta, { eps: s.eps }) : o.squareLinfUpdate(a.x, a.best, draws, { size, eps: s.eps });
      return o.squareAccept(model.forward(cand), a.y, cand, a.best, a.loss, a.open);
    }));
    for (const t of [a.best, a.loss, a.open]) t.dispose();
    Object.assign(a, keep(next));
  }

  /** Ends the active set: its best points and margins go into the whole batch's, its other tensors are freed. */
  private retire(): void {
    const a = this.active!;
    this.active = null;
    if (!a.ids) {
      this.best = a.best;
      this.loss = a.loss;
      a.open.dispose();
      return;
    }
    const [best, loss] = keep(noGrad(() => scope(() => [
      o.indexCopy(this.best!, 0, a.ids!, a.best, { unique: true }),
      o.indexCopy(this.loss!, 0, a.ids!, a.loss, { unique: true }),
    ])));
    for (const t of [this.best!, this.loss!, a.ids, a.x, a.y, a.best, a.loss, a.open]) t.dispose();
    this.best = best;
    this.loss = loss;
  }

  /** Keeps only the open examples, after one readback of their count; false once none is left. */
  async compact(): Promise<boolean> {
    const a = this.active!;
    const c = o.compactIndices(a.open);
    try {
      const count = await c.count.item();
      if (count === a.x.shape[0]) return true;
      const picked = count === 0 ? null : keep(noGrad(() => scope(() => {
        const rows = o.slice(c.indices, 0, 0, count);
        const take = (t: Tensor) => o.indexSelect(t, 0, rows, { unique: true });
        return { ids: a.ids ? take(a.ids) : rows, x: take(a.x), y: take(a.y), best: take(a.best), loss: take(a.loss), open: take(a.open) };
      })));
      this.retire();
      this.active = picked;
      return picked !== null;
    } finally {
      c.indices.dispose();
      c.count.dispose();
    }
  }

  /** The result: a final forward of the best points gives fooled (argmax != y) and the margin at them. */
  finish(): AttackResult {
    if (this.active) this.retire();
    const xAdv = this.best!;
    const r = noGrad(() => scope(() => {
      const logits = this.model.forward(xAdv);
      return { fooled: misclassified(logits, this.y), loss: o.cwMargin(logits, this.y) };
    }));
    this.loss!.dispose();
    this.best = this.loss = null;
    track(xAdv);
    return { xAdv, fooled: r.fooled, loss: r.loss };
  }

  dispose(): void {
    const a = this.active;
    if (a) for (const t of [a.best, a.loss, a.open, ...(a.ids ? [a.ids, a.x, a.y] : [])]) t.dispose();
    this.best?.dispose();
    this.loss?.dispose();
    for (const t of this.etas.values()) t.dispose();
    this.etas.clear();
    this.active = this.best = this.loss = null;
  }
}

function checkBatch(x: Tensor, y: Tensor): void {
  if (x.rank !== 4) throw new RangeError(`square: x must be images [N, C, H, W], got shape ${fmt(x.shape)}`);
  if (y.rank !== 1 || y.shape[0] !== x.shape[0]) throw new RangeError(`square: y must be labels [${x.shape[0]}] for x of shape ${fmt(x.shape)}, got ${fmt(y.shape)}`);
  if (y.dtype !== 'int32') throw new TypeError(`square: y must be int32 class labels, got ${y.dtype}`);
}

/**
 * Square attack on images x [N, C, H, W] in [0, 1] with int32 labels y: per example the point reached (inside
 * the eps-ball and [0, 1]), whether it is misclassified, and its margin max_{j != y} z_j - z_y. BN runs in the
 * attack mode; reads back only the count of open examples at each compaction (none with compactEvery 0).
 */
export async function square(model: Module, x: Tensor, y: Tensor, opts: SquareOptions): Promise<AttackResult> {
  const s = squareSettings(opts);
  checkBatch(x, y);
  if (x.shape[0] === 0) return { xAdv: o.clone(x), fooled: o.zeros([0], { device: x.device }), loss: o.zeros([0], { device: x.device }) };
  return withAttackModeAsync(model, s.bnMode, async () => {
    const run = new SquareRun(model, x, y, s);
    try {
      run.start();
      for (let it = 0; it < s.queries; it++) {
        if (s.compactEvery && it % s.compactEvery === 0 && !(await run.compact())) break;
        run.step(it);
      }
      return run.finish();
    } finally {
      run.dispose();
    }
  });
}
