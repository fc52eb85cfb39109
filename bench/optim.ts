/**
 * Optimizer steps on a ResNet-18-sized parameter list (the real model's 62 tensors, 11.2M floats, one fused
 * dispatch each), in GB/s of the traffic the update must make: SGD with momentum reads p, g and the buffer
 * and writes p and the buffer (5 floats per parameter); Adam reads p, g, m, v and writes p, m, v (7).
 */
import { full } from '../engine/create.js';
import { keep } from '../engine/scope.js';
import { Generator } from '../engine/rng.js';
import { SGD, Adam, type Optimizer } from '../engine/optim/index.js';
import { ResNet18 } from '../nn/models/index.js';
import type { BenchContext } from './context.js';

const CASES: { name: string; floats: number; make: (params: ReturnType<ResNet18['parameters']>) => Optimizer<{ lr: number }>; shape: string }[] = [
  { name: 'sgd momentum resnet18', floats: 5, make: (p) => new SGD(p, { lr: 1e-3, momentum: 0.9, weightDecay: 5e-4 }), shape: 'lr 1e-3, momentum 0.9, wd 5e-4' },
  { name: 'adam resnet18', floats: 7, make: (p) => new Adam(p, { lr: 1e-4 }), shape: 'lr 1e-4, betas (0.9, 0.999)' },
];

export async function optimSuite(ctx: BenchContext): Promise<void> {
  const selected = CASES.filter((c) => ctx.wants('optim', c.name));
  if (!selected.length) return;
  await ctx.group('optim', selected.map((c) => c.name), async () => {
    const device = ctx.device;
    const model = new ResNet18({ device, generator: new Generator(5) });
    const params = model.parameters();
    for (const p of params) p.grad = keep(full(p.shape, 1e-3, { device }));
    const n = params.reduce((s, p) => s + p.size, 0);
    try {
      for (const c of selected) {
        const opt = c.make(params);
        try {
          // the first (compiling) step also creates the state buffers; the timed ones are steady-state
          await ctx.measure({ suite: 'optim', name: c.name, shape: `${params.length} tensors, ${(n / 1e6).toFixed(2)}M floats; ${c.shape}`, bytes: 4 * c.floats * n }, () => opt.step());
        } finally {
          opt.dispose();
        }
      }
    } finally {
      model.dispose();
    }
  });
}
