/**
 * conv2d throughput: forward, input gradient and weight gradient, each timed alone on the kernels (no tape),
 * in GFLOP/s with FLOPs = 2*N*O*OH*OW*(C/groups)*kH*kW for all three passes, plus the weight-gradient /
 * forward time ratio on the weight-gradient rows (the split-K weight gradient should cost at most about 2x the
 * forward). Shapes: every distinct convolution of ResNet-18 (PreAct ResNet-18 has the same ones) and of
 * WRN-28-10 on 32x32 CIFAR inputs, at batch 32 and 128; quick mode takes a few of them at batch 8.
 */
import { empty, full } from '../engine/create.js';
import { scope } from '../engine/scope.js';
import { runConv2dForward, runConv2dInputGrad, runConv2dWeightGrad, conv2dWeightGradPlan, type ConvGeometry } from '../kernels/conv2d.js';
import { convOutSize } from '../engine/ops/conv2d.js';
import type { Tensor } from '../engine/tensor.js';
import type { BenchContext } from './context.js';
import type { BenchRow } from './report.js';

export interface ConvBenchShape {
  name: string;
  N: number; C: number; H: number; W: number; O: number;
  k: number; stride: number; padding: number; groups?: number;
}

export type ConvPass = 'fwd' | 'dx' | 'dw';
const PASSES: ConvPass[] = ['fwd', 'dx', 'dw'];

interface Layer { C: number; O: number; H: number; k: number; stride: number }

/**
 * The distinct convolutions of a CIFAR ResNet: a 3x3 stem 3 -> widths[0] at 32x32, then per stage a first
 * block (3x3 in -> out at the stage's stride, a 1x1 projection shortcut when the width or size changes, 3x3
 * out -> out) and further blocks that repeat the second convolution.
 */
function resnetLayers(stem: number, widths: number[], strides: number[]): Layer[] {
  const out: Layer[] = [{ C: 3, O: stem, H: 32, k: 3, stride: 1 }];
  let C = stem;
  let H = 32;
  widths.forEach((O, i) => {
    const s = strides[i]!;
    out.push({ C, O, H, k: 3, stride: s });
    if (s !== 1 || C !== O) out.push({ C, O, H, k: 1, stride: s });
    H /= s;
    out.push({ C: O, O, H, k: 3, stride: 1 });
    C = O;
  });
  const seen = new Set<string>();
  return out.filter((l) => { const key = `${l.C} ${l.O} ${l.H} ${l.k} ${l.stride}`; return !seen.has(key) && !!seen.add(key); });
}

const RESNET18 = resnetLayers(64, [64, 128, 256, 512], [1, 2, 2, 2]);
const WRN28_10 = resnetLayers(16, [160, 320, 640], [1, 2, 2]);

const shapeOf = (model: string, N: number, l: Layer): ConvBenchShape => ({
  name: `${model} b${N} ${l.k}x${l.k} ${l.C}->${l.O} ${l.H}x${l.H}${l.stride > 1 ? ` s${l.stride}` : ''}`,
  N, C: l.C, H: l.H, W: l.H, O: l.O, k: l.k, stride: l.stride, padding: l.k === 3 ? 1 : 0,
});

/** Full mode: all layers at batch 32, then at batch 128 (so that a run cut short has the batch-32 table). */
export const CONV_SHAPES: ConvBenchShape[] = [32, 128].flatMap((N) => [
  ...RESNET18.map((l) => shapeOf('resnet18', N, l)),
  ...WRN28_10.map((l) => shapeOf('wrn28-10', N, l)),
]);

/** Quick mode: one layer of each kind at batch 8 (3x3 wide and deep, strided, 1x1 strided, and a WRN-28-10 one). */
export const QUICK_CONV_SHAPES: ConvBenchShape[] = [
  shapeOf('resnet18', 8, { C: 64, O: 64, H: 32, k: 3, stride: 1 }),
  shapeOf('resnet18', 8, { C: 128, O: 256, H: 16, k: 3, stride: 2 }),
  shapeOf('resnet18', 8, { C: 128, O: 256, H: 16, k: 1, stride: 2 }),
  shapeOf('resnet18', 8, { C: 512, O: 512, H: 4, k: 3, stride: 1 }),
  shapeOf('wrn28-10', 8, { C: 160, O: 160, H: 32, k: 3, stride: 1 }),
];

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

/** Times the selected passes of each shape on constant data (finite, no denormals: CPU adapters slow down on those). */
export async function convSuite(ctx: BenchContext, shapes: ConvBenchShape[] = ctx.quick ? QUICK_CONV_SHAPES : CONV_SHAPES): Promise<void> {
  const device = ctx.device;
  for (const s of shapes) {
    const passes = PASSES.filter((p) => ctx.wants('conv2d', `${s.name} ${p}`));
    if (!passes.length) continue;
    await ctx.group('conv2d', passes.map((p) => `${s.name} ${p}`), async () => {
      const g = convGeometryOf(s);
      const plan = conv2dWeightGradPlan(ctx.device, g);
      const bufs = scope(() => ({
        x: full([g.N, g.C, g.H, g.W], 0.01, { device }),
        w: full([g.O, g.C / g.groups, g.KH, g.KW], 0.01, { device }),
        y: full([g.N, g.O, g.OH, g.OW], 0.01, { device }),
        dx: empty(device, [g.N, g.C, g.H, g.W]),
        dw: empty(device, [g.O, g.C / g.groups, g.KH, g.KW]),
        part: plan.chunks > 1 ? empty(device, [plan.partialSize]) : null,
      }));
      const b = (t: Tensor) => t.storage.binding();
      // Every pass reads two of x, w, dy and writes the third.
      const bytes = 4 * (bufs.x.size + bufs.w.size + bufs.y.size);
      const shape = `N${g.N} C${g.C} ${g.H}x${g.W} -> O${g.O} ${g.OH}x${g.OW}, k${g.KH} s${g.sh} p${g.ph}`;
      const spec = (p: ConvPass, notes?: string) => ({ suite: 'conv2d', name: `${s.name} ${p}`, shape, flops: convFlops(g), bytes, notes });
      try {
        let fwd: BenchRow | null = null;
        if (passes.includes('fwd')) fwd = await ctx.measure(spec('fwd'), () => runConv2dForward(device, b(bufs.x), b(bufs.w), null, b(bufs.y), g));
        if (passes.includes('dx')) await ctx.measure(spec('dx'), () => runConv2dInputGrad(device, b(bufs.y), b(bufs.w), b(bufs.dx), g));
        if (passes.includes('dw')) {
          const row = await ctx.measure(spec('dw', plan.chunks > 1 ? `split-K ${plan.chunks}` : undefined),
            () => runConv2dWeightGrad(device, b(bufs.x), b(bufs.y), bufs.part ? b(bufs.part) : null, b(bufs.dw), g, plan));
          if (fwd) {
            const ratio = `dw/fwd ${(row.medianMs / fwd.medianMs).toFixed(2)} (cpu ${(row.cpuMs! / fwd.cpuMs!).toFixed(2)})`;
            row.notes = row.notes ? `${row.notes}; ${ratio}` : ratio;
          }
        }
      } finally {
        for (const t of Object.values(bufs)) t?.dispose();
      }
    });
  }
}
