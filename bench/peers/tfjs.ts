/**
 * The tfjs side: @tensorflow/tfjs-core with @tensorflow/tfjs-backend-webgpu, NHWC activations and HWIO
 * filters (tfjs's native layout on WebGPU). The backend is registered as 'webgpu' around a GPUDevice we hand
 * it (`new WebGPUBackend(device)`, its public constructor), so the shared-device mode runs on robustgpu's own
 * GPUDevice.
 *
 * Waiting: tfjs batches up to 15 dispatches in an open compute pass; a step ends as the backend's own
 * readback (getBufferData) starts, endComputePassEncoder() + submitQueue(), then waits for
 * `queue.onSubmittedWorkDone()`: the same wait as our device.sync(). No data is read back inside the timed
 * region, for any engine.
 *
 * Conv backward runs the two kernels tfjs's Conv2D gradient calls (Conv2DBackpropInput and
 * Conv2DBackpropFilter, through engine().runKernel: conv2DBackpropFilter is not in tfjs-core's public ops).
 * The training step is tf.train.sgd(lr).minimize() over tf.variable()s, with tf.fused.conv2d (conv + bias
 * in one kernel; under a tape tfjs fuses no relu) + relu, maxPool, mean, tf.fused.matMul + bias,
 * tf.losses.softmaxCrossEntropy (mean over the batch); see tfjs_grads.ts for the gradients it needs.
 */
import type { Runner } from './runner.js';
import { registerTrainingGradients } from './tfjs_grads.js';
import {
  HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, OIHW_TO_HWIO, TRAIN_LR, permute4, transpose2,
  type CnnWeights, type Workload, type WorkloadData, joinGrads } from './workloads.js';

export type Tf = typeof import('@tensorflow/tfjs-core');
type TfWebGPU = typeof import('@tensorflow/tfjs-backend-webgpu');
type Backend = InstanceType<TfWebGPU['WebGPUBackend']>;

export interface TfPeer {
  tf: Tf;
  version: string;
  backend: Backend;
  /** Gradient configs the bench registered (tfjs_grads.ts), none when @tensorflow/tfjs had done it. */
  gradients: string[];
  /** Removes the backend (it frees its buffers; the GPUDevice is the caller's). */
  close(): void;
}

/** Imports tfjs (navigator.gpu must be set before: the backend package checks it at import) and selects a backend on `gpu`. */
export async function openTfjs(gpu: GPUDevice): Promise<TfPeer> {
  const tf: Tf = await import('@tensorflow/tfjs-core');
  const tfw: TfWebGPU = await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new tfw.WebGPUBackend(gpu, (gpu as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo), 3);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend(\'webgpu\') failed');
  await tf.ready();
  const backend = tf.backend() as Backend;
  return {
    tf, backend, version: tf.version_core, gradients: registerTrainingGradients(tf),
    close: () => {
      tf.disposeVariables();
      tf.removeBackend('webgpu');
    },
  };
}

export function tfjsRunner(p: TfPeer, w: Workload, d: WorkloadData, weights?: CnnWeights): Runner {
  const { tf, backend } = p;
  const done = async () => {
    // as the backend's own readback (getBufferData) does before its copy: close the pass, submit
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await backend.queue.onSubmittedWorkDone();
  };
  const owned: { dispose(): void }[] = [];
  const keep = <T extends { dispose(): void }>(t: T) => { owned.push(t); return t; };
  const dispose = () => { for (const t of owned) t.dispose(); };
  const timed = async (record: () => { dispose(): void } | { dispose(): void }[]) => {
    const t0 = performance.now();
    const out = tf.tidy(() => record() as never) as { dispose(): void } | { dispose(): void }[];
    await done();
    const ms = performance.now() - t0;
    for (const t of Array.isArray(out) ? out : [out]) t.dispose();
    return ms;
  };
  const read = async (t: import('@tensorflow/tfjs-core').Tensor) => { try { return await t.data() as Float32Array; } finally { t.dispose(); } };

  switch (w.kind) {
    case 'matmul': {
      const a = keep(tf.tensor2d(d.a!, [w.n, w.n]));
      const b = keep(tf.tensor2d(d.b!, [w.n, w.n]));
      return {
        step: () => timed(() => tf.matMul(a, b)),
        output: () => read(tf.matMul(a, b)),
        dispose,
      };
    }
    case 'conv': {
      const x = keep(tf.tensor4d(permute4(d.x!, [w.N, w.C, w.H, w.W], NCHW_TO_NHWC), [w.N, w.H, w.W, w.C]));
      const filter = keep(tf.tensor4d(permute4(d.w!, [w.O, w.C, 3, 3], OIHW_TO_HWIO), [3, 3, w.C, w.O]));
      if (w.pass === 'forward') {
        return {
          step: () => timed(() => tf.conv2d(x, filter, 1, 'same')),
          output: async () => permute4(await read(tf.conv2d(x, filter, 1, 'same')), [w.N, w.H, w.W, w.O], NHWC_TO_NCHW),
          dispose,
        };
      }
      const dy = keep(tf.tensor4d(permute4(d.dy!, [w.N, w.O, w.H, w.W], NCHW_TO_NHWC), [w.N, w.H, w.W, w.O]));
      const common = { strides: [1, 1] as [number, number], pad: 'same' as const, dataFormat: 'NHWC' as const };
      const backward = () => [
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: x.shape }) as import('@tensorflow/tfjs-core').Tensor,
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: filter.shape }) as import('@tensorflow/tfjs-core').Tensor,
      ];
      return {
        step: () => timed(backward),
        output: async () => {
          const [dx, dw] = backward();
          const gx = permute4(await read(dx!), [w.N, w.H, w.W, w.C], NHWC_TO_NCHW);
          const gw = permute4(await read(dw!), [3, 3, w.C, w.O], HWIO_TO_OIHW);
          return joinGrads(gx, gw);
        },
        dispose,
      };
    }
    case 'train': {
      const B = w.batch;
      const v4 = (data: Float32Array, shape: [number, number, number, number]) => keep(tf.variable(tf.tensor4d(data, shape)));
      const v2 = (data: Float32Array, shape: [number, number]) => keep(tf.variable(tf.tensor2d(data, shape)));
      const v1 = (data: Float32Array) => keep(tf.variable(tf.tensor1d(data)));
      const wts = weights!;
      const w1 = v4(permute4(wts.w1, [16, 1, 3, 3], OIHW_TO_HWIO), [3, 3, 1, 16]);
      const b1 = v1(wts.b1);
      const w2 = v4(permute4(wts.w2, [32, 16, 3, 3], OIHW_TO_HWIO), [3, 3, 16, 32]);
      const b2 = v1(wts.b2);
      const wf = v2(transpose2(wts.wf, 10, 32), [32, 10]);
      const bf = v1(wts.bf);
      const x = keep(tf.tensor4d(d.x!, [B, 28, 28, 1])); // C = 1: NCHW and NHWC are the same bytes
      const onehot = keep(tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(d.labels!, 'int32'), 10), 'float32')));
      const opt = tf.train.sgd(TRAIN_LR);
      const loss = () => {
        let h = tf.relu(tf.fused.conv2d({ x, filter: w1, strides: 1, pad: 'same', bias: b1 }));
        h = tf.maxPool(h, 2, 2, 'valid');
        h = tf.relu(tf.fused.conv2d({ x: h, filter: w2, strides: 1, pad: 'same', bias: b2 }));
        const g = tf.mean(h, [1, 2]);
        const logits = tf.fused.matMul({ a: g, b: wf, bias: bf });
        return tf.losses.softmaxCrossEntropy(onehot, logits) as import('@tensorflow/tfjs-core').Scalar;
      };
      let first: Float32Array | null = null;
      let last: import('@tensorflow/tfjs-core').Scalar | null = null;
      return {
        step: async () => {
          const t0 = performance.now();
          const cost = opt.minimize(loss, true, [w1, b1, w2, b2, wf, bf])!;
          await done();
          const ms = performance.now() - t0;
          if (!first) first = await read(cost); // the warm-up step: untimed
          else { last?.dispose(); last = cost; }
          return ms;
        },
        output: async () => Float32Array.of(first![0]!, last ? (await last.data())[0]! : NaN),
        ...(p.gradients.length ? { notes: `gradients of ${p.gradients.join(', ')} registered by the bench as tfjs's own (tfjs-core alone has none)` } : {}),
        dispose: () => { last?.dispose(); opt.dispose(); dispose(); },
      };
    }
  }
}
