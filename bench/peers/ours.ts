/**
 * robustgpu's side: the same public paths a user takes (matmul and conv2d ops; SmallCNN + SGD + standardStep),
 * except the conv backward, which runs the op's own backward kernels (input gradient and weight gradient
 * from a given dy, as engine/ops/conv2d.ts's backward does) so that no forward is counted in it.
 * Each step is recorded synchronously and waited for with device.sync() (submit + onSubmittedWorkDone).
 */
import type { Device } from '../../engine/device.js';
import { empty, tensor } from '../../engine/create.js';
import { keep, scope } from '../../engine/scope.js';
import { conv2d, matmul } from '../../engine/ops/index.js';
import { convGeometry } from '../../engine/ops/conv2d.js';
import { runConv2dInputGrad, runConv2dWeightGrad, conv2dWeightGradPlan } from '../../kernels/conv2d.js';
import { Generator } from '../../engine/rng.js';
import { SmallCNN } from '../../nn/models/small_cnn.js';
import { SGD } from '../../engine/optim/index.js';
import { standardStep } from '../../training/steps.js';
import type { Tensor } from '../../engine/tensor.js';
import { TRAIN_LR, type CnnWeights, type Workload, type WorkloadData, joinGrads } from './workloads.js';
import type { Runner } from './runner.js';

async function timed(device: Device, record: () => unknown): Promise<number> {
  const t0 = performance.now();
  scope(() => { record(); });
  await device.sync();
  return performance.now() - t0;
}

function f32(t: Tensor): Promise<Float32Array> {
  return t.read() as Promise<Float32Array>;
}

export interface OursRunner extends Runner {
  /** The training step's initial parameters, for the peers. */
  weights?: CnnWeights;
}

export async function oursRunner(device: Device, w: Workload, d: WorkloadData): Promise<OursRunner> {
  const owned: Tensor[] = [];
  const up = (data: ArrayLike<number>, shape: number[]) => {
    const t = keep(tensor(data, shape, { device }));
    owned.push(t);
    return t;
  };
  const dispose = () => { for (const t of owned) t.dispose(); };
  switch (w.kind) {
    case 'matmul': {
      const a = up(d.a!, [w.n, w.n]);
      const b = up(d.b!, [w.n, w.n]);
      return {
        step: () => timed(device, () => matmul(a, b)),
        output: async () => { const c = matmul(a, b); try { return await f32(c); } finally { c.dispose(); } },
        dispose,
      };
    }
    case 'conv': {
      const x = up(d.x!, [w.N, w.C, w.H, w.W]);
      const wt = up(d.w!, [w.O, w.C, 3, 3]);
      if (w.pass === 'forward') {
        return {
          step: () => timed(device, () => conv2d(x, wt, { padding: 1 })),
          output: async () => { const y = conv2d(x, wt, { padding: 1 }); try { return await f32(y); } finally { y.dispose(); } },
          dispose,
        };
      }
      const dy = up(d.dy!, [w.N, w.O, w.H, w.W]);
      const geo = convGeometry('conv2d', x.shape, wt.shape, null, { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 });
      const plan = conv2dWeightGradPlan(device, geo);
      const backward = (): [Tensor, Tensor] => {
        const dx = empty(device, x.shape);
        runConv2dInputGrad(device, dy.storage.binding(), wt.storage.binding(), dx.storage.binding(), geo);
        const dw = empty(device, wt.shape);
        const part = plan.chunks > 1 ? empty(device, [plan.partialSize]) : null;
        runConv2dWeightGrad(device, x.storage.binding(), dy.storage.binding(), part?.storage.binding() ?? null, dw.storage.binding(), geo, plan);
        part?.dispose();
        return [dx, dw];
      };
      return {
        step: () => timed(device, backward),
        output: async () => {
          const [dx, dw] = scope(() => backward().map((t) => keep(t)));
          try {
            const [gx, gw] = [await f32(dx!), await f32(dw!)];
            return joinGrads(gx, gw);
          } finally { dx!.dispose(); dw!.dispose(); }
        },
        dispose,
      };
    }
    case 'train': {
      const model = new SmallCNN({ device, generator: new Generator(1234) });
      const opt = new SGD(model.parameters(), { lr: TRAIN_LR });
      const sd = new Map(model.stateDict());
      const read = async (name: string) => f32(sd.get(`features.${name}`)!);
      const weights: CnnWeights = {
        w1: await read('conv1.weight'), b1: await read('conv1.bias'),
        w2: await read('conv2.weight'), b2: await read('conv2.bias'),
        wf: await read('fc.weight'), bf: await read('fc.bias'),
      };
      const batch = { x: up(d.x!, [w.batch, 1, 28, 28]), y: up(d.labels!, [w.batch]) };
      let first: Tensor | null = null;
      let last: Tensor | null = null;
      return {
        weights,
        step: async () => {
          const t0 = performance.now();
          const l = scope(() => keep(standardStep(model, opt, batch)));
          await device.sync();
          const ms = performance.now() - t0;
          if (!first) first = l;
          else { last?.dispose(); last = l; }
          return ms;
        },
        output: async () => Float32Array.of((await f32(first!))[0]!, last ? (await f32(last))[0]! : NaN),
        dispose: () => { first?.dispose(); last?.dispose(); model.dispose(); dispose(); },
      };
    }
  }
}
