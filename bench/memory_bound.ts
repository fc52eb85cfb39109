/**
 * The memory-bound ops a training step is made of, in GB/s of compulsory traffic: batchnorm (train mode),
 * activations, softmax cross-entropy and the TRADES KL, and the fused PGD step kernels. Forward rows go through the op API (tape and all, as training runs
 * them); backward rows of batchnorm and the activations run the op's backward kernels (see BWD_NOTE); the
 * losses are timed forward + backward through the tape (their seed is a scalar, so nothing is copied).
 */
import { empty, full, tensor } from '../engine/create.js';
import { runBatchNormStats, runBatchNormBackwardReduce, runBatchNormBackward } from '../kernels/batch_norm.js';
import { runActivationBackward, type ActivationKernelOp } from '../kernels/activation.js';
import { Generator, rand, randn } from '../engine/rng.js';
import { keep, scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import * as o from '../engine/ops/index.js';
import type { ActivationName } from '../engine/ops/index.js';
import type { Tensor } from '../engine/tensor.js';
import type { BenchContext } from './context.js';

const F32 = 4;
const fmt = (s: readonly number[]) => `[${s.join(',')}]`;
const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Runs `fn` with tensors it makes kept alive, then disposes them (the timing loop's scopes must not take them). */
async function withTensors<T extends Record<string, Tensor>>(make: () => T, fn: (t: T) => Promise<void>): Promise<void> {
  // intermediates of `make` are disposed by the scope; what it returns is kept
  const t = scope(make);
  for (const v of Object.values(t)) keep(v);
  try {
    await fn(t);
  } finally {
    for (const v of Object.values(t)) v.dispose();
  }
}

/** Names the rows of one op; runs the group only if one of them is selected. */
async function opGroup(ctx: BenchContext, suite: string, base: string, variants: string[], fn: (want: (v: string) => boolean) => Promise<void>): Promise<void> {
  const names = variants.map((v) => `${base} ${v}`);
  if (!names.some((n) => ctx.wants(suite, n))) return;
  await ctx.group(suite, names, () => fn((v) => ctx.wants(suite, `${base} ${v}`)));
}

export async function batchNormSuite(ctx: BenchContext): Promise<void> {
  const device = ctx.device;
  const shapes = ctx.quick ? [[32, 64, 32, 32]] : [[128, 64, 32, 32], [128, 160, 32, 32], [128, 512, 4, 4]];
  for (const s of shapes) {
    const base = `train b${s[0]} ${s[1]}ch ${s[2]}x${s[3]}`;
    const C = s[1]!;
    await opGroup(ctx, 'batchnorm', base, ['fwd', 'bwd'], (want) => withTensors(() => {
      const g = new Generator(1);
      return {
        x: randn(s, { device, generator: g }), dy: randn(s, { device, generator: g }), dx: empty(device, s),
        gamma: full([C], 1, { device }), beta: full([C], 0, { device }), rm: full([C], 0, { device }), rv: full([C], 1, { device }),
        mean: empty(device, [2 * C]), variance: empty(device, [C]), sumG: empty(device, [C]), sumGxhat: empty(device, [C]),
      };
    }, async (t) => {
      const n = sizeOf(s);
      const spec = (v: string, bytes: number, notes: string) => ({ suite: 'batchnorm', name: `${base} ${v}`, shape: fmt(s), bytes: F32 * bytes, notes });
      if (want('fwd')) {
        await ctx.measure(spec('fwd', 2 * n, 'op batchNorm2d: statistics (two-pass) + apply, running stats updated'),
          () => noGrad(() => o.batchNorm2d(t.x, t.gamma, t.beta, t.rm, t.rv, { mode: 'train' })));
      }
      if (want('bwd')) {
        // The backward the op records (kernel level: see BWD_NOTE), on statistics computed once here.
        const b = (x: Tensor) => x.storage.binding();
        const bs = { N: s[0]!, C, HW: s[2]! * s[3]! };
        runBatchNormStats(device, bs, b(t.x), b(t.mean), b(t.variance), b(t.rm), b(t.rv), null);
        await ctx.measure(spec('bwd', 3 * n, `reduce (dgamma, dbeta) + dx kernels; ${BWD_NOTE}`), () => {
          runBatchNormBackwardReduce(device, bs, true, 1e-5, b(t.x), b(t.dy), b(t.mean), b(t.variance), b(t.sumG), b(t.sumGxhat));
          runBatchNormBackward(device, bs, 1e-5, b(t.dy), b(t.variance), b(t.gamma), b(t.dx), { x: b(t.x), mean: b(t.mean), sumG: b(t.sumG), sumGxhat: b(t.sumGxhat) });
        });
      }
    }));
  }
}

/**
 * Backward rows run the kernels the op's backward records, on buffers made here, rather than through the tape:
 * a seeded backward (o.valueAndGrad(f, [x], { seed })) first copies the seed, through the strided copy kernel,
 * which would cost more than the backward itself on a CPU adapter. Inside a training step the upstream
 * gradient is not copied.
 */
const BWD_NOTE = 'kernels as the op backward runs them';

const ACTIVATIONS: [ActivationName, ActivationKernelOp, [number, number]][] = [
  ['relu', 'relu', [0, 0]], ['silu', 'silu', [0, 0]], ['softplus', 'softplus', [1, 20]], ['gelu', 'gelu', [0, 0]],
];

export async function activationSuite(ctx: BenchContext): Promise<void> {
  const device = ctx.device;
  const s = ctx.quick ? [32, 64, 32, 32] : [128, 64, 32, 32];
  for (const [a, kernel, [k0, k1]] of ACTIVATIONS) {
    await opGroup(ctx, 'activation', a, ['fwd', 'bwd'], (want) => withTensors(() => {
      const g = new Generator(2);
      return { x: randn(s, { device, generator: g }), dy: randn(s, { device, generator: g }), dx: empty(device, s), unused: empty(device, [1]) };
    }, async (t) => {
      const n = sizeOf(s);
      const spec = (v: string, bytes: number, notes: string) => ({ suite: 'activation', name: `${a} ${v}`, shape: fmt(s), bytes: F32 * bytes, notes });
      if (want('fwd')) await ctx.measure(spec('fwd', 2 * n, 'op'), () => noGrad(() => o.activation(a, t.x)));
      if (want('bwd')) {
        const b = (x: Tensor) => x.storage.binding();
        // reads x and dy, writes dx
        await ctx.measure(spec('bwd', 3 * n, BWD_NOTE), () => runActivationBackward(device, kernel, { x: b(t.x), g: b(t.dy), p: b(t.x), gx: b(t.dx), gp: b(t.unused) }, n, { x: true, p: false }, k0, k1));
      }
    }));
  }
}

export async function lossSuite(ctx: BenchContext): Promise<void> {
  const device = ctx.device;
  for (const [B, K] of [[128, 10], [4096, 1000]] as const) {
    await opGroup(ctx, 'loss', `b${B} k${K}`, ['softmax-ce fwd+bwd', 'trades-kl fwd+bwd'], (want) => withTensors(() => {
      const g = new Generator(3);
      return {
        logits: randn([B, K], { device, generator: g }), other: randn([B, K], { device, generator: g }),
        labels: tensor(Int32Array.from({ length: B }, (_, i) => i % K), [B], { device }),
      };
    }, async (t) => {
      const name = (v: string) => `b${B} k${K} ${v}`;
      if (want('softmax-ce fwd+bwd')) {
        await ctx.measure({ suite: 'loss', name: name('softmax-ce fwd+bwd'), shape: `logits [${B},${K}], mean`, bytes: F32 * (2 * B * K + B), notes: 'reads logits, writes dlogits' },
          () => o.valueAndGrad((z) => o.crossEntropy(z, t.labels), [t.logits]));
      }
      if (want('trades-kl fwd+bwd')) {
        await ctx.measure({ suite: 'loss', name: name('trades-kl fwd+bwd'), shape: `2 x [${B},${K}], sum / B`, bytes: F32 * 4 * B * K, notes: 'gradients to both logits' },
          () => o.valueAndGrad((adv, nat) => o.tradesKl(adv, nat, { reduction: 'sum', divideByBatch: true }), [t.logits, t.other]));
      }
    }));
  }
}

export async function pgdKernelSuite(ctx: BenchContext): Promise<void> {
  const device = ctx.device;
  const s = [128, 3, 32, 32];
  await opGroup(ctx, 'pgd', 'b128 3x32x32', ['linf step', 'l2 step'], (want) => withTensors(() => {
    const g = new Generator(4);
    const x = rand(s, { device, generator: g });
    return { x, xAdv: o.clamp(o.add(x, o.mul(randn(s, { device, generator: g }), 0.01)), 0, 1), grad: randn(s, { device, generator: g }) };
  }, async (t) => {
    // reads x, xAdv, grad; writes the new iterate
    const spec = (v: string, notes: string) => ({ suite: 'pgd', name: `b128 3x32x32 ${v}`, shape: `${fmt(s)}, eps 8/255, alpha 2/255`, bytes: F32 * 4 * sizeOf(s), notes });
    if (want('linf step')) await ctx.measure(spec('linf step', 'pgd_linf_step.wgsl'), () => o.pgdLinfStep(t.x, t.xAdv, t.grad, { eps: 8 / 255, alpha: 2 / 255 }));
    if (want('l2 step')) await ctx.measure(spec('l2 step', 'pgd_l2_step.wgsl, per-example norms'), () => o.pgdL2Step(t.x, t.xAdv, t.grad, { eps: 0.5, alpha: 0.1 }));
  }));
}
