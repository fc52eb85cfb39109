/**
 * conv2d throughput: forward, input gradient and weight gradient, each timed alone on the kernels (no tape),
 * in GFLOP/s with FLOPs = 2*N*O*OH*OW*(C/groups)*kH*kW for all three passes, plus the weight-gradient /
 * forward time ratio (the weight gradient, a split-K GEMM, should cost at most about 2x the forward).
 * Shapes: the peers' small ones, ResNet-18 and WRN-28-10 CIFAR layers at batch 32 and 128.
 */
import { empty, full } from '../engine/create.js';
import { scope } from '../engine/scope.js';
import { runConv2dForward, runConv2dInputGrad, runConv2dWeightGrad, weightGradPlan, type ConvGeometry } from '../kernels/conv2d.js';
import { convOutSize } from '../engine/ops/conv2d.js';
import type { Device } from '../engine/device.js';
import type { Tensor } from '../engine/tensor.js';

export interface ConvBenchShape {
  name: string;
  N: number; C: number; H: number; W: number; O: number;
  k: number; stride: number; padding: number; groups?: number;
}

export type ConvPass = 'forward' | 'input-grad' | 'weight-grad';

export interface ConvBenchRow {
  name: string;
  pass: ConvPass;
  /** Median milliseconds per call (device work included: each call is followed by a sync). */
  ms: number;
  gflops: number;
  /**
   * Median CPU milliseconds of this process per call (all threads). On a CPU adapter (lavapipe) this is the
   * work done, which other processes on the machine disturb far less than the wall time.
   */
  cpuMs: number;
  /** Weight-gradient rows: its time over the forward's on the same shape (wall, and CPU time). */
  ratioToForward?: number;
  cpuRatioToForward?: number;
}

export interface ConvSuiteOptions {
  /** Timed repetitions per pass (default 3; one untimed warm-up precedes them). */
  reps?: number;
  /** Only the first few shapes (the small ones and one ResNet-18 layer). */
  quick?: boolean;
  /** Only shapes whose name contains this text. */
  filter?: string;
  /** Replaces the default shape list. */
  shapes?: ConvBenchShape[];
  /** Which passes to time (default all three). */
  passes?: ConvPass[];
}

const s3 = (name: string, N: number, C: number, HW: number, O: number, stride = 1): ConvBenchShape =>
  ({ name, N, C, H: HW, W: HW, O, k: 3, stride, padding: 1 });

/** The default list, cheapest first (lavapipe runs the ResNet-18 layers at batch 32 in about a second each). */
export const CONV_SHAPES: ConvBenchShape[] = [
  s3('small b32 32x32 16->16', 32, 16, 32, 16),
  s3('small b32 16x16 64->64', 32, 64, 16, 64),
  s3('resnet18 b32 32x32 64->64', 32, 64, 32, 64),
  s3('resnet18 b32 16x16 128->128', 32, 128, 16, 128),
  s3('resnet18 b32 8x8 256->256', 32, 256, 8, 256),
  s3('resnet18 b32 4x4 512->512', 32, 512, 4, 512),
  s3('resnet18 b32 32x32 64->128 stride 2', 32, 64, 32, 128, 2),
  { name: 'resnet18 b32 32x32 64->128 1x1 stride 2', N: 32, C: 64, H: 32, W: 32, O: 128, k: 1, stride: 2, padding: 0 },
  { name: 'wrn28-10 b32 32x32 16->160 1x1', N: 32, C: 16, H: 32, W: 32, O: 160, k: 1, stride: 1, padding: 0 },
  s3('wrn28-10 b32 32x32 160->160', 32, 160, 32, 160),
  s3('wrn28-10 b32 16x16 320->320', 32, 320, 16, 320),
  s3('wrn28-10 b32 8x8 640->640', 32, 640, 8, 640),
  s3('resnet18 b128 32x32 64->64', 128, 64, 32, 64),
  s3('resnet18 b128 16x16 128->128', 128, 128, 16, 128),
  s3('resnet18 b128 8x8 256->256', 128, 256, 8, 256),
  s3('wrn28-10 b128 32x32 160->160', 128, 160, 32, 160),
  s3('wrn28-10 b128 16x16 320->320', 128, 320, 16, 320),
  s3('wrn28-10 b128 8x8 640->640', 128, 640, 8, 640),
];

const QUICK = 3;

export function convGeometryOf(s: ConvBenchShape): ConvGeometry {
  const OH = convOutSize(s.H, s.k, s.stride, s.padding, 1);
  const OW = convOutSize(s.W, s.k, s.stride, s.padding, 1);
  return {
    N: s.N, C: s.C, H: s.H, W: s.W, O: s.O, OH, OW, KH: s.k, KW: s.k,
    sh: s.stride, sw: s.stride, ph: s.padding, pw: s.padding, dh: 1, dw: 1, groups: s.groups ?? 1,
  };
}

export function convFlops(g: ConvGeometry): number {
  return 2 * g.N * g.O * g.OH * g.OW * (g.C / g.groups) * g.KH * g.KW;
}

interface Timing { ms: number; cpuMs: number }

async function time(device: Device, reps: number, fn: () => void): Promise<Timing> {
  fn();
  await device.sync();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < Math.max(1, reps); i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    await device.sync();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const med = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  return { ms: med(wall), cpuMs: med(cpu) };
}

/** Times each pass of each shape on constant data (finite, no denormals: CPU adapters slow down on those). */
export async function convSuite(device: Device, opts: ConvSuiteOptions = {}): Promise<ConvBenchRow[]> {
  const reps = opts.reps ?? 3;
  const passes = new Set(opts.passes ?? ['forward', 'input-grad', 'weight-grad']);
  let shapes = opts.shapes ?? (opts.quick ? CONV_SHAPES.slice(0, QUICK) : CONV_SHAPES);
  if (opts.filter) shapes = shapes.filter((s) => s.name.includes(opts.filter!));
  const rows: ConvBenchRow[] = [];
  for (const s of shapes) {
    const g = convGeometryOf(s);
    const flops = convFlops(g);
    const plan = weightGradPlan(g);
    const bufs = scope(() => ({
      x: full([g.N, g.C, g.H, g.W], 0.01, { device }),
      w: full([g.O, g.C / g.groups, g.KH, g.KW], 0.01, { device }),
      y: full([g.N, g.O, g.OH, g.OW], 0.01, { device }),
      dx: empty(device, [g.N, g.C, g.H, g.W]),
      dw: empty(device, [g.O, g.C / g.groups, g.KH, g.KW]),
      part: plan.chunks > 1 ? empty(device, [plan.partialSize]) : null,
    }));
    const b = (t: Tensor) => t.storage.binding();
    try {
      const row = (pass: ConvPass, t: Timing): ConvBenchRow => ({ name: s.name, pass, ms: t.ms, gflops: flops / (t.ms * 1e6), cpuMs: t.cpuMs });
      let fwd: Timing | null = null;
      if (passes.has('forward')) {
        fwd = await time(device, reps, () => runConv2dForward(device, b(bufs.x), b(bufs.w), null, b(bufs.y), g));
        rows.push(row('forward', fwd));
      }
      if (passes.has('input-grad')) {
        rows.push(row('input-grad', await time(device, reps, () => runConv2dInputGrad(device, b(bufs.y), b(bufs.w), b(bufs.dx), g))));
      }
      if (passes.has('weight-grad')) {
        const t = await time(device, reps, () => runConv2dWeightGrad(device, b(bufs.x), b(bufs.y), bufs.part ? b(bufs.part) : null, b(bufs.dw), g, plan));
        rows.push({ ...row('weight-grad', t), ...(fwd ? { ratioToForward: t.ms / fwd.ms, cpuRatioToForward: t.cpuMs / fwd.cpuMs } : {}) });
      }
    } finally {
      for (const t of Object.values(bufs)) t?.dispose();
    }
  }
  return rows;
}

/** A plain-text table of the rows. */
export function formatConvRows(rows: ConvBenchRow[]): string {
  const lines = rows.map((r) => `${r.name.padEnd(42)} ${r.pass.padEnd(11)} ${r.ms.toFixed(1).padStart(9)} ms ${r.gflops.toFixed(2).padStart(7)} GFLOP/s`
    + ` ${r.cpuMs.toFixed(0).padStart(7)} cpu-ms`
    + (r.ratioToForward !== undefined ? `   dW/fwd ${r.ratioToForward.toFixed(2)} (cpu ${r.cpuRatioToForward!.toFixed(2)})` : ''));
  return lines.join('\n');
}
