/**
 * tfjs-core's Node bundle registers no gradient configs: the union package @tensorflow/tfjs brings them
 * (it bundles tfjs-core's register_all_gradients, whose ES modules Node cannot load from tfjs-core itself),
 * and with it tfjs-layers, -converter, -data and -backend-webgl, about 220 MB more in node_modules. So the
 * few the training step needs are registered here, each the same computation, with the same ops and
 * kernels, as tfjs's own config in tfjs-core/src/gradients/ (named in each); only where none is registered.
 * The convolutions, matmul and softmax cross-entropy need none: tf.fused.conv2d and tf.fused.matMul with
 * a linear activation and tf.losses.softmaxCrossEntropy carry their own customGrad (a fused relu would not:
 * under a gradient tape tfjs unfuses conv + bias + relu into three kernels, each needing its gradient).
 */
import type { Tf } from './tfjs.js';

type T = import('@tensorflow/tfjs-core').Tensor;
type Attrs = Record<string, unknown>;

export function registerTrainingGradients(tf: Tf): string[] {
  const { util, broadcast_util } = tf;
  const expanded = (dy: T, x: T, axis: unknown) => {
    const shape = x.shape.slice();
    for (const a of util.parseAxisParam(axis as number | number[], x.shape)) shape[a] = 1;
    return tf.reshape(dy, shape);
  };
  const configs: import('@tensorflow/tfjs-core').GradConfig[] = [
    { // RealDiv_grad.ts
      kernelName: 'RealDiv', inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved) => {
        const [a, b] = saved as [T, T];
        const out = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
        const reduceTo = (res: T, t: T) => {
          const axes = broadcast_util.getReductionAxes(t.shape, out);
          return axes.length ? tf.reshape(tf.sum(res, axes), t.shape) : res;
        };
        return {
          a: () => reduceTo(tf.div(dy as T, tf.cast(b, 'float32')), a),
          b: () => tf.neg(tf.div(reduceTo(tf.mul(dy as T, tf.cast(a, 'float32')), b), tf.cast(tf.square(b), 'float32'))),
        };
      },
    },
    { // Sum_grad.ts
      kernelName: 'Sum', inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved as [T];
        const d = tf.mul(expanded(dy as T, x, (attrs as Attrs).axis), tf.ones(x.shape, 'float32'));
        return { x: () => d };
      },
    },
    { // Mean_grad.ts
      kernelName: 'Mean', inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved as [T];
        const axes = util.parseAxisParam((attrs as Attrs).axis as number | number[], x.shape);
        const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
        return { x: () => tf.div(tf.mul(expanded(dy as T, x, axes), tf.ones(x.shape, 'float32')), n) };
      },
    },
    { // MaxPool_grad.ts (maxPoolGrad is not a public op: its kernel is run directly)
      kernelName: 'MaxPool', inputsToSave: ['x'], outputsToSave: [true],
      gradFunc: (dy, saved, attrs) => {
        const [x, y] = saved as [T, T];
        const { filterSize, strides, pad } = attrs as Attrs;
        return {
          x: () => tf.engine().runKernel('MaxPoolGrad', { dy: dy as T, input: x, output: y }, { filterSize, strides, pad, dimRoundingMode: undefined } as never) as T,
        };
      },
    },
    { // Relu_grad.ts
      kernelName: 'Relu', inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as T, tf.cast(tf.step(saved[0] as T), 'float32')) }),
    },
    { kernelName: 'Cast', gradFunc: (dy) => ({ x: () => (dy as T).clone() }) }, // Cast_grad.ts
    { // Reshape_grad.ts
      kernelName: 'Reshape', inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.reshape(dy as T, (saved[0] as T).shape) }),
    },
  ];
  const added: string[] = [];
  for (const c of configs) {
    if (tf.getGradient(c.kernelName)) continue;
    tf.registerGradient(c);
    added.push(c.kernelName);
  }
  return added;
}
