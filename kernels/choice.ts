/**
 * Which kernel variant runs a GEMM-shaped op: today's register-blocked kernels ('default', with their own
 * per-call block choice: the best on lavapipe) or a workgroup-tiled one ('tiled' and its tile). Each op's
 * selection function (matmulPlan, conv2dForwardPlan, ...) asks resolveChoice, which takes, in order:
 * a choice forced for the process (setKernelChoice: tests, benchmarks), the tuned choice of the op's shape
 * class (the dispatcher's chooser: engine/tune.ts, timed on the adapter and cached per adapter), 'default' on
 * a software adapter, and the op's cost model on a GPU.
 * The ops describe themselves to the tuner here (registerTunable): what to time, on which buffers.
 */
import type { Dispatcher } from './kernel.js';

/** The kernels that have a tiled variant, by what they compute. */
export const KERNEL_OPS = ['matmul', 'conv2d_fwd', 'conv2d_dx', 'conv2d_dw'] as const;
export type KernelOp = (typeof KERNEL_OPS)[number];

/**
 * A tile of lib/gemm_tiled.wgsl: 16*tm rows x 64*tn4 columns per 16x16-thread workgroup (tm x 4*tn4 outputs
 * per thread), reduced in steps of bk.
 */
export interface Tile { tm: number; tn4: number; bk: number }

export type KernelChoice = { variant: 'default' } | { variant: 'tiled'; tile: Tile };

export const DEFAULT_CHOICE: KernelChoice = { variant: 'default' };

const TMS = [4, 8];
const TN4S = [1, 2];
const BKS = [8, 16, 32];

/** Every tile the kernels are built for: 64x64 to 128x128 outputs, K steps of 8 to 32. */
export const TILES: readonly Tile[] = TMS.flatMap((tm) => TN4S.flatMap((tn4) => BKS.map((bk) => ({ tm, tn4, bk }))));

/** Workgroup memory a tile stages: BK x (BM + BN) floats. */
export function tileStorageBytes(t: Tile): number {
  return 4 * t.bk * (16 * t.tm + 64 * t.tn4);
}

/** 'tiled 128x64 k16' */
export function choiceLabel(c: KernelChoice): string {
  return c.variant === 'default' ? 'default' : `tiled ${16 * c.tile.tm}x${64 * c.tile.tn4} k${c.tile.bk}`;
}

/** Parses choiceLabel's form ('default', 'tiled 128x64 k16'); null for anything else. */
export function parseChoice(s: string): KernelChoice | null {
  if (s === 'default') return DEFAULT_CHOICE;
  const m = /^tiled (\d+)x(\d+) k(\d+)$/.exec(s.trim());
  if (!m) return null;
  const tile = { tm: Number(m[1]) / 16, tn4: Number(m[2]) / 64, bk: Number(m[3]) };
  return TILES.some((t) => sameTile(t, tile)) ? { variant: 'tiled', tile } : null;
}

function sameTile(a: Tile, b: Tile): boolean {
  return a.tm === b.tm && a.tn4 === b.tn4 && a.bk === b.bk;
}

/** Whether `c` is a choice the kernels are built for (a cache file or a caller may say anything). */
export function validChoice(c: unknown): c is KernelChoice {
  if (typeof c !== 'object' || c === null) return false;
  const v = c as { variant?: unknown; tile?: unknown };
  if (v.variant === 'default') return true;
  if (v.variant !== 'tiled' || typeof v.tile !== 'object' || v.tile === null) return false;
  const t = v.tile as Record<string, unknown>;
  return TILES.some((x) => x.tm === t.tm && x.tn4 === t.tn4 && x.bk === t.bk);
}

/** What the engine's device tells the selection functions (engine/tune.ts implements it). */
export interface KernelChooser {
  /** A software (CPU) adapter: no cost model, today's kernels unless a tuned entry says otherwise. */
  readonly software: boolean;
  /** The device's maxComputeWorkgroupStorageSize (a tile must fit). */
  readonly maxWorkgroupStorage: number;
  /**
   * The tuned choice of (op, shape class), if any. Without one, an autotuning chooser remembers `shape` to
   * time the candidates on it later (never inside an op: that would read back).
   */
  choose(op: KernelOp, shapeClass: string, shape: unknown): KernelChoice | undefined;
}

const forced = new Map<KernelOp, KernelChoice>();

/**
 * Forces `op`'s variant for the whole process (null: back to the normal selection). For tests (every variant
 * through the audit) and benchmarks; a forced tile must fit the device's workgroup memory.
 */
export function setKernelChoice(op: KernelOp, choice: KernelChoice | null): void {
  if (!KERNEL_OPS.includes(op)) throw new RangeError(`setKernelChoice: unknown op '${op}' (one of ${KERNEL_OPS.join(', ')})`);
  if (choice === null) { forced.delete(op); return; }
  if (!validChoice(choice)) throw new RangeError(`setKernelChoice(${op}): ${JSON.stringify(choice)} is not a choice the kernels are built for (default, or a tile of ${TILES.map((t) => choiceLabel({ variant: 'tiled', tile: t })).join(', ')})`);
  forced.set(op, choice);
}

/** The choices forced with setKernelChoice, by op. */
export function forcedChoices(): ReadonlyMap<KernelOp, KernelChoice> {
  return forced;
}

/** Whether the device can stage tile `t` (unknown devices: the WebGPU default of 16 KiB). */
export function tileFits(d: Dispatcher, t: Tile): boolean {
  return tileStorageBytes(t) <= (d.chooser?.maxWorkgroupStorage ?? 16384);
}

/**
 * The choice for one call of `op`, in the order of the header. `applicable` says whether the op can run a
 * given choice on this shape (a grid too large, a tile too big for the device): a tuned entry or a cost-model
 * pick that cannot run falls back to 'default'; a forced one that cannot is an error naming why.
 */
export function resolveChoice(d: Dispatcher, op: KernelOp, shapeClass: string, shape: unknown, costModel: () => KernelChoice,
  applicable: (c: KernelChoice) => string | null): KernelChoice {
  const f = forced.get(op);
  if (f) {
    const why = applicable(f);
    if (why) throw new RangeError(`${op}: the forced ${choiceLabel(f)} cannot run here: ${why}`);
    return f;
  }
  const tuned = d.chooser?.choose(op, shapeClass, shape);
  const pick = tuned ?? (!d.chooser || d.chooser.software ? DEFAULT_CHOICE : costModel());
  return applicable(pick) ? DEFAULT_CHOICE : pick;
}

/** Buckets a size to the nearest power of two (shape classes: a handful per op and model). */
export function bucket(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.round(Math.log2(n));
}

/** How the tuner times one op (registered by the op's kernel wrapper). */
export interface Tunable<S> {
  op: KernelOp;
  /** The shape class of `shape` (the cache's key with the op). */
  shapeClass(shape: S): string;
  /** The choices worth timing on `shape` (quick: fewer tiles). */
  candidates(d: Dispatcher, shape: S, quick: boolean): KernelChoice[];
  /** Floats of each buffer `run` binds, by name. */
  buffers(d: Dispatcher, shape: S, choice: KernelChoice): Record<string, number>;
  /** Records `shape` with `choice` forced. */
  run(d: Dispatcher, buffers: Record<string, GPUBufferBinding>, shape: S, choice: KernelChoice): void;
  /** One line for reports: the shape. */
  describe(shape: S): string;
}

const tunables = new Map<KernelOp, Tunable<never>>();

export function registerTunable<S>(t: Tunable<S>): void {
  tunables.set(t.op, t as unknown as Tunable<never>);
}

export function tunableOf(op: KernelOp): Tunable<unknown> {
  const t = tunables.get(op);
  if (!t) throw new Error(`no tunable registered for '${op}' (import kernels/matmul.js and kernels/conv2d.js)`);
  return t as unknown as Tunable<unknown>;
}

/** The tile quick tuning times against the default (on a software adapter, whose compiles take seconds). */
export const QUICK_TILE: Tile = { tm: 4, tn4: 1, bk: 8 };

/** The tile candidates worth timing on a device: all that fit, or (quick) QUICK_TILE alone. */
export function tileCandidates(d: Dispatcher, quick: boolean): Tile[] {
  return quick ? [QUICK_TILE] : TILES.filter((t) => tileFits(d, t));
}

/**
 * Enough workgroups for a large tile to pay: about one per streaming multiprocessor of a large GPU (an H200
 * has 132). A prior, not a measurement: the tuner replaces it wherever it has timed a shape class.
 */
const BIG_TILE_WORKGROUPS = 96;
const SMALL_TILE_WORKGROUPS = 24;

/**
 * The cost model of a GEMM of `batch` x (M x N, reduced over K) on a GPU with no tuned entry: the largest
 * tile that still yields enough workgroups (128x128, then the 128-row or 128-column half tile the shape
 * prefers, then 64x64; K steps of 16), else the register-blocked default, which also keeps small or thin
 * GEMMs (under 32 in any dimension) whose staging would cost more than it saves.
 */
export function tiledCostModel(d: Dispatcher, M: number, N: number, K: number, batch: number): KernelChoice {
  if (M < 32 || N < 32 || K < 32) return DEFAULT_CHOICE;
  const groups = (t: Tile) => Math.ceil(M / (16 * t.tm)) * Math.ceil(N / (64 * t.tn4)) * batch;
  const halves: Tile[] = M >= N ? [{ tm: 8, tn4: 1, bk: 16 }, { tm: 4, tn4: 2, bk: 16 }] : [{ tm: 4, tn4: 2, bk: 16 }, { tm: 8, tn4: 1, bk: 16 }];
  for (const t of [{ tm: 8, tn4: 2, bk: 16 }, ...halves]) {
    if (tileFits(d, t) && groups(t) >= BIG_TILE_WORKGROUPS) return { variant: 'tiled', tile: t };
  }
  const small = { tm: 4, tn4: 1, bk: 16 };
  return tileFits(d, small) && groups(small) >= SMALL_TILE_WORKGROUPS ? { variant: 'tiled', tile: small } : DEFAULT_CHOICE;
}
