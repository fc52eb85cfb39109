/**
 * The side-by-side workloads (the list) and the data they run on: made once on the CPU from a fixed
 * seed and uploaded to every engine, in our layouts (NCHW activations, OIHW weights); the tfjs runners
 * transpose to NHWC / HWIO themselves.
 */

export type ConvPass = 'forward' | 'backward';

export type Workload =
  | { kind: 'matmul'; name: string; n: number }
  | { kind: 'conv'; name: string; pass: ConvPass; N: number; C: number; H: number; W: number; O: number }
  | { kind: 'train'; name: string; batch: number };

const conv = (pass: ConvPass, N: number, C: number, HW: number, O: number): Workload =>
  ({ kind: 'conv', name: `conv2d ${pass} b${N} ${HW}x${HW} ${C}->${O}`, pass, N, C, H: HW, W: HW, O });

/** Every 3x3 convolution has stride 1 and padding 1 ('SAME'). */
export const WORKLOADS: readonly Workload[] = [
  { kind: 'matmul', name: 'matmul 512', n: 512 },
  { kind: 'matmul', name: 'matmul 1024', n: 1024 },
  conv('forward', 32, 16, 32, 16),
  conv('backward', 32, 16, 32, 16),
  conv('forward', 32, 64, 16, 64),
  conv('backward', 32, 64, 16, 64),
  { kind: 'train', name: 'small-CNN SGD step b64 28x28x1', batch: 64 },
];

/** A short description of the shape, for the table. */
export function shapeOf(w: Workload): string {
  switch (w.kind) {
    case 'matmul': return `${w.n}x${w.n}x${w.n}`;
    case 'conv': return `x[${w.N},${w.C},${w.H},${w.W}] w[${w.O},${w.C},3,3] pad 1${w.pass === 'backward' ? ' -> dx, dw' : ''}`;
    case 'train': return `x[${w.batch},1,28,28], conv 1->16, pool, conv 16->32, gap, fc 10`;
  }
}

/** Multiply-add FLOPs (2 per MAC) of the work; for the training step, of its convolutions and fc layer. */
export function flopsOf(w: Workload): number {
  switch (w.kind) {
    case 'matmul': return 2 * w.n ** 3;
    case 'conv': return 2 * w.N * w.O * w.H * w.W * w.C * 9 * (w.pass === 'backward' ? 2 : 1);
    case 'train': {
      const B = w.batch;
      const c1 = 2 * B * 16 * 28 * 28 * 1 * 9; // forward and dW (the input needs no gradient)
      const c2 = 2 * B * 32 * 14 * 14 * 16 * 9; // forward, dX and dW
      const fc = 2 * B * 32 * 10;
      return 2 * c1 + 3 * c2 + 3 * fc;
    }
  }
}

/** mulberry32: a small seeded PRNG, so every engine and every run sees the same numbers. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function labels(n: number, classes: number, seed: number): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * classes);
  return out;
}

/** [A, B, C, D] -> the axes permuted by `perm` (out[i] has in's axis perm[i]), row-major. */
export function permute4(src: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]!);
  const inStride = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const s = perm.map((p) => inStride[p]!);
  const out = new Float32Array(src.length);
  let k = 0;
  for (let a = 0; a < outShape[0]!; a++) {
    for (let b = 0; b < outShape[1]!; b++) {
      for (let c = 0; c < outShape[2]!; c++) {
        const base = a * s[0]! + b * s[1]! + c * s[2]!;
        for (let d = 0; d < outShape[3]!; d++) out[k++] = src[base + d * s[3]!]!;
      }
    }
  }
  return out;
}

export const NCHW_TO_NHWC = [0, 2, 3, 1] as const;
export const NHWC_TO_NCHW = [0, 3, 1, 2] as const;
export const OIHW_TO_HWIO = [2, 3, 1, 0] as const;
export const HWIO_TO_OIHW = [3, 2, 0, 1] as const;

/** The transpose of a row-major [rows, cols] matrix. */
export function transpose2(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}

/** The input data of a workload (our layouts). */
export interface WorkloadData {
  a?: Float32Array; b?: Float32Array;
  x?: Float32Array; w?: Float32Array; dy?: Float32Array;
  labels?: Int32Array;
}

export function dataFor(w: Workload): WorkloadData {
  switch (w.kind) {
    case 'matmul': return { a: uniform(w.n * w.n, 1), b: uniform(w.n * w.n, 2) };
    case 'conv': return {
      x: uniform(w.N * w.C * w.H * w.W, 3),
      w: uniform(w.O * w.C * 9, 4, -1 / Math.sqrt(w.C * 9), 1 / Math.sqrt(w.C * 9)),
      dy: uniform(w.N * w.O * w.H * w.W, 5),
    };
    case 'train': return { x: uniform(w.batch * 28 * 28, 6, 0, 1), labels: labels(w.batch, 10, 7) };
  }
}

/** The SmallCNN's parameters in our layouts, handed from our model to the peers so all start equal. */
export interface CnnWeights {
  w1: Float32Array; b1: Float32Array; // [16, 1, 3, 3], [16]
  w2: Float32Array; b2: Float32Array; // [32, 16, 3, 3], [32]
  wf: Float32Array; bf: Float32Array; // [10, 32] (out, in), [10]
}

export const TRAIN_LR = 0.01;

/** The gradients of a conv backward as one array (dx then dw), the form every engine's result is compared in. */
export function joinGrads(gx: Float32Array, gw: Float32Array): Float32Array {
  const out = new Float32Array(gx.length + gw.length);
  out.set(gx);
  out.set(gw, gx.length);
  return out;
}
