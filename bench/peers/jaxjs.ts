/**
 * The jax-js side (@jax-js/jax, WebGPU backend), NCHW / OIHW like ours (lax.conv's default dimension
 * numbers). Every workload is a jit-compiled function, jax-js's fast path (it fuses elementwise work into
 * its kernels). jax-js arrays are reference-counted with move semantics: a call consumes its arguments,
 * `.ref` passes an extra reference.
 *
 * Waiting: `Array.blockUntilReady()` submits the pending kernels and maps a zero-byte staging copy of the
 * result, which resolves when the queue has finished: the same wait as our device.sync(), no data read.
 *
 * jax-js takes its GPUDevice from `navigator.gpu.requestAdapter()` + `adapter.requestDevice()` once per
 * process (`init('webgpu')`); there is no API to hand it a device, so the shared mode answers those calls
 * with robustgpu's GPUDevice (see env.ts), and a later comparePeers in the same process with a different
 * Device cannot use jax-js.
 *
 * Conv backward: jit of the vjp's pullback applied to dy (the forward's output is unused, so the trace
 * drops it). Training step: valueAndGrad of the functional SmallCNN and p - lr * g, all inside one jit.
 */
import type { Runner } from './runner.js';
import { TRAIN_LR, transpose2, type CnnWeights, type Workload, type WorkloadData, joinGrads } from './workloads.js';

export type Jax = typeof import('@jax-js/jax');
type JArray = import('@jax-js/jax').Array;

export interface JaxPeer { jax: Jax; version: string; device: GPUDevice }

let bound: { device: GPUDevice; destroyed: boolean } | null = null;

/**
 * Initialises jax-js's WebGPU backend (navigator.gpu must be set). `expect` is the device it must end up
 * on (shared mode), or null to take whatever navigator.gpu hands out (own-device mode).
 */
export async function openJax(expect: GPUDevice | null, version: string): Promise<JaxPeer> {
  const jax: Jax = await import('@jax-js/jax');
  if (bound?.destroyed) throw new Error('jax-js binds its WebGPU device once per process (init), and that device was destroyed by an earlier comparePeers');
  const backends = await jax.init('webgpu');
  if (!backends.includes('webgpu')) throw new Error(`jax.init('webgpu') found no WebGPU device (backends: ${backends.join(', ')})`);
  const device = jax.getWebGPUDevice();
  if (expect && device !== expect) {
    throw new Error('jax-js binds its WebGPU device once per process (init); it is bound to the device of an earlier comparePeers, not this one');
  }
  bound ??= { device, destroyed: false };
  jax.defaultDevice('webgpu');
  return { jax, version, device };
}

/** Destroys jax-js's own device (own-device mode); jax-js cannot be used again in this process. */
export function destroyJaxDevice(p: JaxPeer): void {
  p.device.destroy();
  if (bound) bound.destroyed = true;
}

export function jaxRunner(p: JaxPeer, w: Workload, d: WorkloadData, weights?: CnnWeights): Runner {
  const { jax } = p;
  const { numpy: np, lax, nn, jit, tree } = jax;
  const owned: { dispose(): void }[] = [];
  const keep = <T extends { dispose(): void }>(t: T) => { owned.push(t); return t; };
  const dispose = () => { for (const t of owned) t.dispose(); };
  const arr = (data: Float32Array, shape: number[]) => keep(np.array(data, { shape }));
  const timed = async (run: () => JArray | JArray[]) => {
    const t0 = performance.now();
    const out = run();
    await jax.blockUntilReady(out);
    const ms = performance.now() - t0;
    tree.dispose(out);
    return ms;
  };
  const SAME = 'SAME' as const;

  switch (w.kind) {
    case 'matmul': {
      const a = arr(d.a!, [w.n, w.n]);
      const b = arr(d.b!, [w.n, w.n]);
      const f = keep(jit((x: JArray, y: JArray) => np.matmul(x, y)));
      return {
        step: () => timed(() => f(a.ref, b.ref)),
        output: async () => (await f(a.ref, b.ref).data()) as Float32Array,
        dispose,
      };
    }
    case 'conv': {
      const x = arr(d.x!, [w.N, w.C, w.H, w.W]);
      const wt = arr(d.w!, [w.O, w.C, 3, 3]);
      if (w.pass === 'forward') {
        const f = keep(jit((xx: JArray, ww: JArray) => lax.conv(xx, ww, [1, 1], SAME)));
        return {
          step: () => timed(() => f(x.ref, wt.ref)),
          output: async () => (await f(x.ref, wt.ref).data()) as Float32Array,
          dispose,
        };
      }
      const dy = arr(d.dy!, [w.N, w.O, w.H, w.W]);
      const f = keep(jit((xx: JArray, ww: JArray, g: JArray): JArray[] => {
        const [y, pullback] = jax.vjp((a: JArray, b: JArray) => lax.conv(a, b, [1, 1], SAME), [xx, ww]);
        y.dispose();
        const grads = pullback(g) as unknown as JArray[];
        pullback.dispose();
        return grads;
      }));
      return {
        step: () => timed(() => f(x.ref, wt.ref, dy.ref)),
        output: async () => {
          const [dx, dw] = f(x.ref, wt.ref, dy.ref);
          const gx = (await dx!.data()) as Float32Array;
          const gw = (await dw!.data()) as Float32Array;
          return joinGrads(gx, gw);
        },
        dispose,
      };
    }
    case 'train': {
      const B = w.batch;
      const wts = weights!;
      type Params = { w1: JArray; b1: JArray; w2: JArray; b2: JArray; wf: JArray; bf: JArray };
      let params: Params = {
        w1: np.array(wts.w1, { shape: [16, 1, 3, 3] }), b1: np.array(wts.b1, { shape: [16, 1, 1] }),
        w2: np.array(wts.w2, { shape: [32, 16, 3, 3] }), b2: np.array(wts.b2, { shape: [32, 1, 1] }),
        wf: np.array(transpose2(wts.wf, 10, 32), { shape: [32, 10] }), bf: np.array(wts.bf, { shape: [10] }),
      };
      const x = arr(d.x!, [B, 1, 28, 28]);
      const oh = new Float32Array(B * 10);
      d.labels!.forEach((c, i) => { oh[i * 10 + c] = 1; });
      const y = arr(oh, [B, 10]);
      const loss = (q: Params, xx: JArray, yy: JArray): JArray => {
        let h = nn.relu(lax.conv(xx, q.w1, [1, 1], SAME).add(q.b1));
        h = lax.reduceWindow(h, np.max, [2, 2], [2, 2]);
        h = nn.relu(lax.conv(h, q.w2, [1, 1], SAME).add(q.b2));
        const logits = np.dot(np.mean(h, [2, 3]), q.wf).add(q.bf);
        return nn.logSoftmax(logits).mul(yy).sum().mul(-1 / B);
      };
      const step = keep(jit((q: Params, xx: JArray, yy: JArray): [Params, JArray] => {
        const [value, g] = jax.valueAndGrad(loss)(tree.ref(q), xx, yy) as unknown as [JArray, Params];
        const next = tree.map((pw: JArray, gw: JArray) => pw.sub(gw.mul(TRAIN_LR)), q, g) as unknown as Params;
        return [next, value];
      }));
      let first: Float32Array | null = null;
      let last: JArray | null = null;
      return {
        step: async () => {
          const t0 = performance.now();
          const [next, value] = step(params, x.ref, y.ref) as unknown as [Params, JArray];
          params = next;
          await jax.blockUntilReady([next, value]);
          const ms = performance.now() - t0;
          if (!first) first = (await value.data()) as Float32Array; // the warm-up step: untimed
          else { last?.dispose(); last = value; }
          return ms;
        },
        output: async () => {
          const l = last ? ((await last.data()) as Float32Array)[0]! : NaN;
          last = null;
          return Float32Array.of(first![0]!, l);
        },
        dispose: () => { last?.dispose(); tree.dispose(params); dispose(); },
      };
    }
  }
}
