/**
 * The per-query ops of the Square attack (Andriushchenko et al. 2020; AutoAttack's square.py), one dispatch for
 * the whole batch each (training/attacks/square.ts runs the attack around them). Forward only: Square is
 * score-based and never differentiates.
 *
 * - square_linf_update(x, xBest, draws; size, eps): each example's s x s window (all channels) moves by
 *   2 eps sign_c, one sign per channel, then everything is clipped to the eps-box around x and to [0, 1].
 *   draws [N, 2 + C]: the window's row and column, then one sign draw per channel.
 * - square_l2_update(x, xBest, draws, eta; eps): AutoAttack's L2 window move: window 1 gets eta * sign_c plus
 *   its old content, renormalised to take the budget left in the ball and the mass of windows 1 and 2, window 2
 *   is emptied, and the whole perturbation is rescaled to norm eps (then clamped to [0, 1]).
 *   draws [N, 5 + C]: both windows' rows and columns, whether eta is transposed, one sign draw per channel.
 *   eta [s, s] is squareEta(s); its side is the window's.
 * - square_accept(logits, labels, cand, best, loss, open): the per-example bookkeeping after the candidates'
 *   forward pass: the margin max_{j != y} z_j - z_y of each candidate, taken where the example is open and the
 *   margin strictly rises; returns the next best points, margins and open mask (open while the margin is < 0).
 * Draws are uniforms in [0, 1): an offset is min(floor(u * (H - s + 1)), H - s), a sign -1 where u < 0.5.
 * The kernel headers (kernels/square_*.wgsl) give the formulas.
 *
 * square_linf_update and square_accept are audited with tolerance 0: their references round to float32 after every
 * operation, as the kernels compute (square_accept only compares, subtracts once and copies). square_l2_update sums
 * squares in another order than a CPU loop, so it gets the default tolerance against a float64 reference.
 */
import { defineOp, type AuditCase } from '../op.js';
import { empty } from '../create.js';
import { ref, type RefTensor } from '../ref/tensor.js';
import { CpuRandom } from '../ref/random.js';
import { fmt, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runSquareAccept, runSquareLinfUpdate, runSquareL2Update, type SquareGeometry } from '../../kernels/square_attack.js';

export interface SquareLinfAttrs { size: number; eps: number }
export interface SquareL2Attrs { eps: number }

/** Draws per example: window row and column, then a sign per channel (L-inf); two windows and a transpose flag first (L2). */
export const squareDrawCount = (norm: 'linf' | 'l2', channels: number): number => (norm === 'linf' ? 2 : 5) + channels;

/**
 * AutoAttack's meta-pseudo-gaussian window pattern, s x s, unit L2 norm: the top floor(s/2) rows hold a positive
 * bump, the other rows a negative one. A bump on an a x b block centred at (floor(a/2), floor(b/2)) is the sum of
 * 1/(k+1)^2 over the nested squares k = 0 .. max(floor(a/2), floor(b/2)) around the centre that contain the
 * pixel (a pixel at Chebyshev distance r is in those with k >= r), each half normalised, then the whole.
 */
export function squareEta(s: number): Float64Array {
  if (!Number.isInteger(s) || s < 1) throw new RangeError(`squareEta: the window side must be an integer >= 1, got ${s}`);
  const bump = (a: number, b: number): number[] => {
    const rings = Math.max(Math.floor(a / 2), Math.floor(b / 2)) + 1;
    const v: number[] = [];
    for (let i = 0; i < a; i++) {
      for (let j = 0; j < b; j++) {
        let sum = 0;
        for (let k = Math.max(Math.abs(i - Math.floor(a / 2)), Math.abs(j - Math.floor(b / 2))); k < rings; k++) sum += 1 / (k + 1) ** 2;
        v.push(sum);
      }
    }
    const norm = Math.hypot(...v);
    return v.map((u) => u / norm);
  };
  const top = Math.floor(s / 2);
  const eta = [...(top ? bump(top, s) : []), ...bump(s - top, s).map((u) => -u)];
  const norm = Math.hypot(...eta);
  return Float64Array.from(eta, (u) => u / norm);
}

function geometry(what: string, x: Tensor, xBest: Tensor, draws: Tensor, norm: 'linf' | 'l2', size: number): SquareGeometry {
  if (x.rank !== 4) throw new RangeError(`${what}: x must be images [N, C, H, W], got shape ${fmt(x.shape)}`);
  const [batch, channels, height, width] = x.shape as [number, number, number, number];
  if (xBest.shape.join() !== x.shape.join()) throw new RangeError(`${what}: xBest has shape ${fmt(xBest.shape)}, expected x's shape ${fmt(x.shape)}`);
  const k = squareDrawCount(norm, channels);
  if (draws.rank !== 2 || draws.shape[0] !== batch || draws.shape[1] !== k) throw new RangeError(`${what}: draws must be [${batch}, ${k}] for x of shape ${fmt(x.shape)}, got ${fmt(draws.shape)}`);
  if (!Number.isInteger(size) || size < 1 || size > Math.min(height, width)) throw new RangeError(`${what}: the window side must be an integer in [1, ${Math.min(height, width)}] for ${height}x${width} images, got ${size}`);
  return { batch, channels, height, width, size };
}

function checkEps(what: string, eps: number): void {
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new RangeError(`${what}: eps must be a finite number >= 0, got ${eps}`);
}

const f32 = Math.fround;

/** The window offset a uniform draw u picks among `span` positions, as the kernels compute it in float32. */
function offsetOf(u: number, span: number): number {
  return Math.min(Math.floor(f32(u * span)), span - 1);
}

function dims(x: RefTensor): [number, number, number, number] {
  return x.shape as [number, number, number, number];
}

function refLinf([x, xb, draws]: RefTensor[], a: SquareLinfAttrs): RefTensor {
  const [n, c, h, w] = dims(x!);
  const s = a.size;
  const eps = f32(a.eps);
  const k = squareDrawCount('linf', c);
  const out = ref(x!.shape);
  for (let e = 0; e < n; e++) {
    const vh = offsetOf(draws!.data[e * k]!, h - s + 1);
    const vw = offsetOf(draws!.data[e * k + 1]!, w - s + 1);
    for (let ch = 0; ch < c; ch++) {
      const step = f32(2 * eps) * (draws!.data[e * k + 2 + ch]! < 0.5 ? -1 : 1);
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const at = ((e * c + ch) * h + i) * w + j;
          const inside = i >= vh && i < vh + s && j >= vw && j < vw + s;
          const moved = f32(xb!.data[at]! + (inside ? step : 0));
          const boxed = Math.min(Math.max(moved, f32(x!.data[at]! - eps)), f32(x!.data[at]! + eps));
          out.data[at] = Math.min(Math.max(boxed, 0), 1);
        }
      }
    }
  }
  return out;
}

function refL2([x, xb, draws, eta]: RefTensor[], a: SquareL2Attrs): RefTensor {
  const [n, c, h, w] = dims(x!);
  const s = eta!.shape[0]!;
  const k = squareDrawCount('l2', c);
  const out = ref(x!.shape);
  const hw = h * w;
  for (let e = 0; e < n; e++) {
    const u = (j: number) => draws!.data[e * k + j]!;
    const [vh, vw, vh2, vw2] = [offsetOf(u(0), h - s + 1), offsetOf(u(1), w - s + 1), offsetOf(u(2), h - s + 1), offsetOf(u(3), w - s + 1)];
    const transposed = u(4) > 0.5;
    const in1 = (i: number, j: number) => i >= vh && i < vh + s && j >= vw && j < vw + s;
    const in2 = (i: number, j: number) => i >= vh2 && i < vh2 + s && j >= vw2 && j < vw2 + s;
    const base = e * c * hw;
    const d = Array.from({ length: c * hw }, (_, i) => xb!.data[base + i]! - x!.data[base + i]!);
    const spare = Math.max(a.eps ** 2 - d.reduce((t, v) => t + v * v, 0), 0) / c;
    const next = [...d];
    for (let ch = 0; ch < c; ch++) {
      let sq1 = 0;
      let sqU = 0;
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const v = d[ch * hw + i * w + j]!;
          if (in1(i, j)) sq1 += v * v;
          if (in1(i, j) || in2(i, j)) sqU += v * v;
        }
      }
      const sign = u(5 + ch) < 0.5 ? -1 : 1;
      const v: number[] = [];
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) {
          const pattern = eta!.data[transposed ? j * s + i : i * s + j]!;
          v.push(pattern * sign + d[ch * hw + (vh + i) * w + vw + j]! / (1e-12 + Math.sqrt(sq1)));
        }
      }
      const scale = Math.sqrt(spare + sqU) / (1e-12 + Math.hypot(...v));
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) if (in2(i, j)) next[ch * hw + i * w + j] = 0;
      for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) next[ch * hw + (vh + i) * w + vw + j] = v[i * s + j]! * scale;
    }
    const norm = Math.hypot(...next);
    for (let i = 0; i < c * hw; i++) out.data[base + i] = Math.min(Math.max(x!.data[base + i]! + (next[i]! / (norm + 1e-12)) * a.eps, 0), 1);
  }
  return out;
}

// ---- audit inputs: pixels at and near 0 and 1, best points on the box faces / the sphere, inside, at x ----

function drawImage(rng: CpuRandom, n: number): number[] {
  return Array.from({ length: n }, () => {
    const u = rng.next();
    if (u < 0.1) return 0;
    if (u < 0.2) return 1;
    if (u < 0.3) return rng.uniform(0, 0.01);
    return rng.next();
  });
}

/** L-inf best points: on a face of the box (x +- eps in float32, clamped to [0, 1]), inside it, or at x. */
function drawLinfBest(rng: CpuRandom, x: number[], eps: number): number[] {
  const e = f32(eps);
  return x.map((v) => {
    const u = rng.next();
    const p = u < 0.4 ? f32(v + e) : u < 0.8 ? f32(v - e) : u < 0.9 ? v : f32(v + rng.uniform(-e, e));
    return Math.min(Math.max(p, 0), 1);
  });
}

/** L2 best points: example b at distance radii[b] * eps from x along a random direction, clamped to [0, 1]. */
function drawL2Best(rng: CpuRandom, x: number[], shape: Shape, eps: number, radii: number[]): number[] {
  const f = x.length / shape[0]!;
  const out: number[] = [];
  for (let b = 0; b < shape[0]!; b++) {
    const dir = Array.from({ length: f }, () => rng.normal());
    const norm = Math.hypot(...dir);
    for (let k = 0; k < f; k++) out.push(Math.min(Math.max(f32(x[b * f + k]! + (radii[b % radii.length]! * eps * dir[k]!) / norm), 0), 1));
  }
  return out;
}

/** Uniform draws, with the edges mixed in: 0, 0.5 (sign +1, no transpose) and the largest float32 below 1. */
function drawUniforms(rng: CpuRandom, n: number): number[] {
  const below1 = 1 - 2 ** -24;
  return Array.from({ length: n }, () => {
    const u = rng.next();
    return u < 0.1 ? 0 : u < 0.2 ? 0.5 : u < 0.3 ? below1 : rng.next();
  });
}

function linfCase(name: string, shape: Shape, size: number, eps: number, seed: number): AuditCase<SquareLinfAttrs> {
  const rng = new CpuRandom(seed);
  const x = drawImage(rng, shape.reduce((p, v) => p * v, 1));
  const k = squareDrawCount('linf', shape[1]!);
  return { name, shapes: [shape, shape, [shape[0]!, k]], attrs: { size, eps }, values: [x, drawLinfBest(rng, x, eps), drawUniforms(rng, shape[0]! * k)] };
}

function l2Case(name: string, shape: Shape, size: number, eps: number, seed: number, radii: number[]): AuditCase<SquareL2Attrs> {
  const rng = new CpuRandom(seed);
  const x = drawImage(rng, shape.reduce((p, v) => p * v, 1));
  const k = squareDrawCount('l2', shape[1]!);
  return {
    name, shapes: [shape, shape, [shape[0]!, k], [size, size]], attrs: { eps },
    values: [x, drawL2Best(rng, x, shape, eps, radii), drawUniforms(rng, shape[0]! * k), [...squareEta(size)]],
  };
}

const squareLinfUpdateOp = defineOp<SquareLinfAttrs>({
  name: 'square_linf_update',
  inputs: ['x', 'xBest', 'draws'],
  nondiff: [0, 1, 2],
  forward: ([x, xBest, draws], a) => {
    const g = geometry('squareLinfUpdate', x!, xBest!, draws!, 'linf', a.size);
    checkEps('squareLinfUpdate', a.eps);
    const y = empty(x!.device, x!.shape);
    runSquareLinfUpdate(x!.device, { x: x!.storage.binding(), xBest: xBest!.storage.binding(), draws: draws!.storage.binding(), y: y.storage.binding() }, g, a.eps);
    return y;
  },
  reference: { forward: refLinf },
  // Bit-exact: see the header.
  tolerance: { atol: 0, rtol: 0 },
  audit: [
    linfCase('square_linf_update [3,1,5,5] s 2 eps 0.1', [3, 1, 5, 5], 2, 0.1, 1),
    linfCase('square_linf_update [2,3,4,6] s 3 (not square) eps 8/255', [2, 3, 4, 6], 3, 8 / 255, 2),
    linfCase('square_linf_update [2,2,7,7] s 7 (the whole image)', [2, 2, 7, 7], 7, 0.05, 3),
    linfCase('square_linf_update [4,3,6,5] s 1', [4, 3, 6, 5], 1, 0.3, 4),
    linfCase('square_linf_update [1,1,9,9] s 4 batch 1', [1, 1, 9, 9], 4, 0.02, 5),
    linfCase('square_linf_update [3,2,4,4] eps 0', [3, 2, 4, 4], 2, 0, 6),
    linfCase('square_linf_update [40,3,8,8] s 5 (several workgroups)', [40, 3, 8, 8], 5, 0.03, 7),
  ],
});

const squareL2UpdateOp = defineOp<SquareL2Attrs>({
  name: 'square_l2_update',
  inputs: ['x', 'xBest', 'draws', 'eta'],
  nondiff: [0, 1, 2, 3],
  forward: ([x, xBest, draws, eta], a) => {
    const s = eta!.shape[0] ?? 0;
    if (eta!.rank !== 2 || eta!.shape[1] !== s) throw new RangeError(`squareL2Update: eta must be a square window [s, s], got shape ${fmt(eta!.shape)}`);
    const g = geometry('squareL2Update', x!, xBest!, draws!, 'l2', s);
    checkEps('squareL2Update', a.eps);
    const y = empty(x!.device, x!.shape);
    runSquareL2Update(x!.device, { x: x!.storage.binding(), xBest: xBest!.storage.binding(), draws: draws!.storage.binding(), eta: eta!.storage.binding(), y: y.storage.binding() }, g, a.eps);
    return y;
  },
  reference: { forward: refL2 },
  audit: [
    // Radii in units of eps: 1 on the sphere (where AutoAttack's iterates live), inside, at x itself (d = 0).
    l2Case('square_l2_update [3,1,8,8] s 3 eps 0.5', [3, 1, 8, 8], 3, 0.5, 11, [1, 0.6, 0]),
    l2Case('square_l2_update [2,3,6,9] s 5 (not square)', [2, 3, 6, 9], 5, 1, 12, [1, 0.3]),
    l2Case('square_l2_update [2,1,5,5] s 5 (the whole image)', [2, 1, 5, 5], 5, 0.2, 13, [1, 0.5]),
    l2Case('square_l2_update [2,2,7,7] s 2 (even)', [2, 2, 7, 7], 2, 0.3, 14, [1, 0.8]),
    l2Case('square_l2_update [1,3,32,32] s 11 (more pixels than threads)', [1, 3, 32, 32], 11, 0.5, 15, [1]),
    l2Case('square_l2_update [3,1,6,6] eps 0', [3, 1, 6, 6], 3, 0, 16, [0]),
    l2Case('square_l2_update [20,3,8,8] s 3 (many examples)', [20, 3, 8, 8], 3, 0.5, 17, [1, 0.9, 0.5, 0]),
  ],
});

function refAccept([z, labels, cand, best, loss, open]: RefTensor[]): Record<string, RefTensor> {
  const [n, k] = z!.shape as [number, number];
  const f = n === 0 ? 0 : best!.data.length / n;
  const nextBest = ref(best!.shape, best!.data);
  const nextLoss = ref([n], loss!.data);
  const nextOpen = ref([n]);
  for (let e = 0; e < n; e++) {
    const y = labels!.data[e]!;
    let take = false;
    if (y >= 0 && y < k) {
      let other = -Infinity;
      for (let j = 0; j < k; j++) if (j !== y) other = Math.max(other, z!.data[e * k + j]!);
      const margin = f32(other - z!.data[e * k + y]!);
      take = open!.data[e] !== 0 && margin > loss!.data[e]!;
      if (take) nextLoss.data[e] = margin;
    }
    if (take) for (let i = 0; i < f; i++) nextBest.data[e * f + i] = cand!.data[e * f + i]!;
    nextOpen.data[e] = open!.data[e] !== 0 && nextLoss.data[e]! < 0 ? 1 : 0;
  }
  return { nextBest, nextLoss, nextOpen };
}

/**
 * An accept case: logits with ties between the label and the best other class (margin exactly 0) and between two
 * others, margins below, at and above the stored ones, open and closed examples.
 */
function acceptCase(name: string, n: number, k: number, f: number, seed: number): AuditCase<Record<string, never>> {
  const rng = new CpuRandom(seed);
  const labels = Array.from({ length: n }, () => Math.floor(rng.next() * k));
  const z: number[] = [];
  const loss: number[] = [];
  for (let e = 0; e < n; e++) {
    const row = Array.from({ length: k }, () => f32(rng.normal() * 3));
    const y = labels[e]!;
    const others = row.filter((_, j) => j !== y);
    const u = rng.next();
    if (u < 0.15 && k > 1) row[y] = Math.max(...others);
    else if (u < 0.25 && k > 2) row[(y + 1) % k] = row[(y + 2) % k]!;
    z.push(...row);
    const margin = f32(Math.max(...row.filter((_, j) => j !== y)) - row[y]!);
    const v = rng.next();
    loss.push(v < 0.2 ? margin : v < 0.6 ? f32(margin - rng.next()) : f32(margin + rng.next()));
  }
  const open = Array.from({ length: n }, () => (rng.next() < 0.75 ? 1 : 0));
  const rows = (m: number) => Array.from({ length: m }, () => f32(rng.next()));
  return {
    name, shapes: [[n, k], [n], [n, f], [n, f], [n], [n]], attrs: {},
    values: [z, labels, rows(n * f), rows(n * f), loss, open],
  };
}

const squareAcceptOp = defineOp<Record<string, never>>({
  name: 'square_accept',
  inputs: ['logits', 'labels', 'cand', 'best', 'loss', 'open'],
  outputs: ['nextBest', 'nextLoss', 'nextOpen'],
  nondiffOutputs: ['nextBest', 'nextLoss', 'nextOpen'],
  int32Inputs: [1],
  nondiff: [0, 1, 2, 3, 4, 5],
  forward: ([z, labels, cand, best, loss, open]) => {
    const what = 'squareAccept';
    if (z!.rank !== 2) throw new RangeError(`${what}: logits must be [N, K], got shape ${fmt(z!.shape)}`);
    const [n, k] = z!.shape as [number, number];
    if (best!.rank < 1 || best!.shape[0] !== n) throw new RangeError(`${what}: best must have the logits' batch ${n} as its first dim, got shape ${fmt(best!.shape)}`);
    if (cand!.shape.join() !== best!.shape.join()) throw new RangeError(`${what}: cand has shape ${fmt(cand!.shape)}, expected best's shape ${fmt(best!.shape)}`);
    for (const [name, t] of [['labels', labels!], ['loss', loss!], ['open', open!]] as const) {
      if (t.rank !== 1 || t.shape[0] !== n) throw new RangeError(`${what}: ${name} must be [${n}] to match logits ${fmt(z!.shape)}, got ${fmt(t.shape)}`);
    }
    const nextBest = empty(best!.device, best!.shape);
    const nextLoss = empty(best!.device, [n]);
    const nextOpen = empty(best!.device, [n]);
    runSquareAccept(best!.device, {
      logits: z!.storage.binding(), labels: labels!.storage.binding(), cand: cand!.storage.binding(), best: best!.storage.binding(),
      loss: loss!.storage.binding(), open: open!.storage.binding(),
      bestOut: nextBest.storage.binding(), lossOut: nextLoss.storage.binding(), openOut: nextOpen.storage.binding(),
    }, n, k, n === 0 ? 0 : best!.size / n);
    return { outs: { nextBest, nextLoss, nextOpen } };
  },
  reference: { forward: refAccept },
  // Bit-exact: see the header.
  tolerance: { atol: 0, rtol: 0 },
  audit: [
    acceptCase('square_accept [16,10] rows of 13', 16, 10, 13, 21),
    acceptCase('square_accept [40,2] rows of 300 (more values than threads)', 40, 2, 300, 22),
    acceptCase('square_accept [1,100] rows of 1', 1, 100, 1, 23),
    acceptCase('square_accept [9,3] rows of 128', 9, 3, 128, 24),
    // (a label outside [0, K) is an error at the next read: test/engine/gpu_errors.test.ts)
  ],
});

/**
 * One L-inf Square candidate per example of x [N, C, H, W] (see the header): xBest moved by 2 eps sign_c on an
 * s x s window placed by `draws` [N, 2 + C], clipped to the eps-box around x and [0, 1].
 */
export function squareLinfUpdate(x: Tensor, xBest: Tensor, draws: Tensor, opts: { size: number; eps: number }): Tensor {
  return squareLinfUpdateOp([x, xBest, draws], { size: opts.size, eps: opts.eps });
}

/** One L2 Square candidate per example of x [N, C, H, W] (see the header); eta [s, s] from squareEta(s), draws [N, 5 + C]. */
export function squareL2Update(x: Tensor, xBest: Tensor, draws: Tensor, eta: Tensor, opts: { eps: number }): Tensor {
  return squareL2UpdateOp([x, xBest, draws, eta], { eps: opts.eps });
}

/**
 * The bookkeeping of one Square query (see the header): from the candidates' logits [N, K] and labels, the next best
 * points (cand where taken), margins and open mask (float32 1/0), for the whole batch in one dispatch.
 */
export function squareAccept(logits: Tensor, labels: Tensor, cand: Tensor, best: Tensor, loss: Tensor, open: Tensor): { best: Tensor; loss: Tensor; open: Tensor } {
  const r = squareAcceptOp([logits, labels, cand, best, loss, open], {});
  return { best: r.nextBest!, loss: r.nextLoss!, open: r.nextOpen! };
}
