/**
 * Pooling with PyTorch's semantics: output sizes (including ceil_mode's rule that the last window starts
 * inside the input or the left padding), max_pool2d's -inf padding, first-maximum ties and NaN propagation
 * with gradients routed to the saved argmax, avg_pool2d's divisors with and without count_include_pad
 * (also for ceil_mode windows hanging over the padded edge), adaptive windows, global average pooling, and
 * PyTorch 1.13 reference cases.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { runAudit } from '../../../engine/audit.js';
import { runCaseFiles } from '../../../engine/audit_cases.js';
import { tensor, arange } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import { noGrad } from '../../../engine/tape.js';
import * as o from '../../../engine/ops/index.js';
import { maxPool2d, avgPool2d, adaptiveAvgPool2d, globalAvgPool2d, poolOutputSize } from '../../../engine/ops/pool.js';
import type { Tensor } from '../../../engine/tensor.js';

const dev = useDevice();

/** [1, 1, h, w] holding 0, 1, 2, ... row-major (or the given values). */
const plane = (h: number, w: number, values?: number[]): Tensor => (values ? tensor(values, [1, 1, h, w]) : o.reshape(arange(h * w), [1, 1, h, w]));

/** d/dx of sum(gout * f(x)) on the GPU. */
async function gradOf(f: (x: Tensor) => Tensor, x: Tensor, gout: number[]): Promise<Float32Array> {
  const { value, grads } = o.valueAndGrad((t) => f(t!), [x], { seed: tensor(gout, f(x).shape) });
  value.dispose();
  return (await grads[0]!.read()) as Float32Array;
}

describe('pooling', () => {
  it('passes the audit for max_pool2d, avg_pool2d, adaptive_avg_pool2d and global_avg_pool2d', async () => {
    const rows = await runAudit(dev(), { ops: ['max_pool2d', 'avg_pool2d', 'adaptive_avg_pool2d', 'global_avg_pool2d'] });
    expect(rows.flatMap((r) => r.failures.map((f) => `${r.op}: ${f}`))).toEqual([]);
    expect(rows.every((r) => r.gradient !== null)).toBe(true);
    // Tied maxima are compared against the reference gradient but not finite differences (a kink).
    expect(rows[0]!.notes.length).toBeGreaterThan(0);
  });

  it('matches the PyTorch 1.13 reference cases (outputs and input gradients)', async () => {
    const results = await runCaseFiles(dev(), [join(import.meta.dirname, '../../cases/pooling.json')]);
    expect(results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.detail}`)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(26);
  });

  it.each([
    // [size, kernel, stride, padding, dilation, ceil_mode, PyTorch's output size]
    [6, 2, 2, 0, 1, false, 3], [7, 3, 2, 1, 1, false, 4], [8, 3, 2, 0, 1, false, 3], [8, 3, 2, 0, 1, true, 4],
    [5, 2, 2, 1, 1, true, 3], [6, 3, 2, 1, 1, true, 4], [5, 2, 2, 0, 1, true, 3], [7, 3, 1, 0, 2, false, 3], [4, 4, 4, 0, 1, false, 1],
  ])('output size: H=%i k=%i s=%i p=%i d=%i ceil=%s gives %i', (h, k, s, p, d, ceil, want) => {
    expect(poolOutputSize(h, k, s, p, d, ceil)).toBe(want);
  });

  describe('max_pool2d', () => {
    it('takes the max of each window (2x2 stride 2)', async () => {
      const y = maxPool2d(plane(4, 4), { kernelSize: 2 });
      expect(y.shape).toEqual([1, 1, 2, 2]);
      expect(Array.from(await y.read())).toEqual([5, 7, 13, 15]);
    });

    it('treats padding as -inf, not 0, on all-negative inputs', async () => {
      const x = plane(3, 3, [-9, -8, -7, -6, -5, -4, -3, -2, -1]);
      const y = maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
      expect(Array.from(await y.read())).toEqual([-5, -4, -2, -1]);
    });

    it('sends the gradient to the first maximum in row-major window order on ties', async () => {
      // Window 0 ties at (0,1) and (1,0): (0,1) comes first. Window 1 ties everywhere: (0,2) comes first.
      const x = plane(2, 4, [0, 3, 1, 1, 3, 2, 1, 1]);
      const y = maxPool2d(x, { kernelSize: 2 });
      expect(Array.from(await y.read())).toEqual([3, 1]);
      expect(Array.from(await gradOf((t) => maxPool2d(t, { kernelSize: 2 }), x, [10, 20]))).toEqual([0, 10, 20, 0, 0, 0, 0, 0]);
    });

    it('accumulates the gradients of overlapping windows on their shared maximum', async () => {
      // 3x3 stride 1 on 4x4 with the maximum at (1,2): it lies in all four windows.
      const vals = new Array<number>(16).fill(0);
      vals[1 * 4 + 2] = 5;
      const dx = await gradOf((t) => maxPool2d(t, { kernelSize: 3, stride: 1 }), plane(4, 4, vals), [1, 2, 4, 8]);
      const want = new Array<number>(16).fill(0);
      want[6] = 15;
      expect(Array.from(dx)).toEqual(want);
    });

    it('propagates NaN (the window with a NaN gives NaN, and its gradient goes there)', async () => {
      const x = plane(2, 4, [1, NaN, 2, 3, 4, 5, 0, 1]);
      const y = Array.from(await maxPool2d(x, { kernelSize: 2 }).read());
      expect(Number.isNaN(y[0])).toBe(true);
      expect(y[1]).toBe(3);
      expect(Array.from(await gradOf((t) => maxPool2d(t, { kernelSize: 2 }), x, [1, 1]))).toEqual([0, 1, 0, 1, 0, 0, 0, 0]);
    });

    it('with kernel == stride, zeroes the rows/cols no window covers even in a reused buffer', async () => {
      // The backward scatters from each window; floor mode leaves row 6 and col 4 of 7x5 outside every
      // window, and nothing but that kernel writes them: recycled buffers full of NaN must come back zeroed.
      const x = plane(7, 5);
      const junk = Array.from({ length: 16 }, () => o.mul(o.zerosLike(x), NaN));
      await junk[15]!.read();
      for (const t of junk) t.dispose();
      const dx = await gradOf((t) => maxPool2d(t, { kernelSize: 2 }), x, [1, 2, 3, 4, 5, 6]);
      const want = new Array<number>(35).fill(0);
      [[1, 1], [1, 3], [3, 1], [3, 3], [5, 1], [5, 3]].forEach(([r, c], k) => { want[r! * 5 + c!] = k + 1; });
      expect(Array.from(dx)).toEqual(want);
      // ceil_mode on 5x5 (k2): the last windows hang over the edge and are cut there.
      const dc = await gradOf((t) => maxPool2d(t, { kernelSize: 2, ceilMode: true }), plane(5, 5), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const wc = new Array<number>(25).fill(0);
      [6, 8, 9, 16, 18, 19, 21, 23, 24].forEach((i, k) => { wc[i] = k + 1; });
      expect(Array.from(dc)).toEqual(wc);
    });

    it('frees the saved argmax indices once its graph is gone', () => {
      const x = plane(4, 4);
      const before = dev().stats();
      scope(() => {
        o.grad((t) => o.sum(maxPool2d(t!, { kernelSize: 2 })), [x]);
        noGrad(() => maxPool2d(x, { kernelSize: 2 }));
        x.requiresGrad = true;
        maxPool2d(x, { kernelSize: 2 });
        x.requiresGrad = false;
      });
      expect([dev().stats().liveTensors, dev().stats().liveBytes]).toEqual([before.liveTensors, before.liveBytes]);
    });

    it('dilates the window, and in ceil_mode keeps a last window that starts inside the input', async () => {
      const yd = maxPool2d(plane(5, 5), { kernelSize: 2, stride: 1, dilation: 3 });
      // Window (oh, ow) reads rows oh, oh+3 and cols ow, ow+3: the max is at (oh+3, ow+3).
      expect(Array.from(await yd.read())).toEqual([18, 19, 23, 24]);
      const yc = maxPool2d(plane(5, 5), { kernelSize: 2, ceilMode: true });
      expect(yc.shape).toEqual([1, 1, 3, 3]);
      expect(Array.from(await yc.read())).toEqual([6, 8, 9, 16, 18, 19, 21, 23, 24]);
    });
  });

  describe('avg_pool2d', () => {
    const ones = (h: number, w: number) => plane(h, w, new Array<number>(h * w).fill(1));

    it('divides by the full window with count_include_pad, by the real elements without', async () => {
      const inc = await avgPool2d(ones(3, 3), { kernelSize: 3, stride: 1, padding: 1 }).read();
      expectClose(inc, [4, 6, 4, 6, 9, 6, 4, 6, 4].map((c) => c / 9), 1e-7, 1e-6, 'count_include_pad');
      const exc = await avgPool2d(ones(3, 3), { kernelSize: 3, stride: 1, padding: 1, countIncludePad: false }).read();
      expectClose(exc, new Array<number>(9).fill(1), 1e-7, 1e-6, 'exclude pad');
    });

    it('in ceil_mode, a window hanging over the padded edge divides only by its part inside input + padding', async () => {
      // 6x6, k3 s2 p1 ceil: 4 outputs per axis; the last window covers rows 5..7, of which 5 is real, 6 is
      // padding and 7 lies beyond the padding, so its divisor per axis is 2 (with pad) or 1 (without).
      const inc = await avgPool2d(ones(6, 6), { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }).read();
      expect(inc.length).toBe(16);
      expectClose([inc[15]!, inc[3]!, inc[5]!], [1 / 4, 2 / 6, 1], 1e-7, 1e-6, 'with pad: corner, edge, interior');
      const exc = await avgPool2d(ones(6, 6), { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }).read();
      expectClose(exc, new Array<number>(16).fill(1), 1e-7, 1e-6, 'without pad');
      // Without padding, 5x5 k2 ceil: the last window holds one real element and divides by 1 either way.
      const y = await avgPool2d(plane(5, 5), { kernelSize: 2, ceilMode: true }).read();
      expectClose([y[2]!, y[8]!], [(4 + 9) / 2, 24], 1e-6, 1e-6, 'ceil window past the edge');
    });

    it('spreads each output gradient evenly over its window, divided as the forward', async () => {
      const dx = await gradOf((t) => avgPool2d(t, { kernelSize: 2, stride: 1, padding: 1, countIncludePad: false }), ones(2, 2), new Array<number>(9).fill(1));
      // Each element lies in 4 windows: the corner one (1 real element), two edge ones (2), the centre (4).
      expectClose(dx, new Array<number>(4).fill(1 + 1 / 2 + 1 / 2 + 1 / 4), 1e-7, 1e-6, 'dx');
    });
  });

  describe('adaptive_avg_pool2d and global_avg_pool2d', () => {
    it('uses the windows [floor(i*H/oh), ceil((i+1)*H/oh)), overlapping when H is not a multiple', async () => {
      // 5 -> 3 rows: windows [0,2), [1,4), [3,5); 4 -> 2 cols: [0,2), [2,4).
      const x = plane(5, 4);
      const y = await adaptiveAvgPool2d(x, [3, 2]).read();
      const mean = (rows: number[], cols: number[]) => rows.flatMap((r) => cols.map((c) => r * 4 + c)).reduce((p, q) => p + q, 0) / (rows.length * cols.length);
      const want = [[0, 1], [1, 2, 3], [3, 4]].flatMap((rows) => [[0, 1], [2, 3]].map((cols) => mean(rows, cols)));
      expectClose(y, want, 1e-6, 1e-6, 'y');
      // Row 1 lies in the first two row windows (sizes 2 and 3): its gradient adds 1/(2*2) + 1/(3*2).
      const dx = await gradOf((t) => adaptiveAvgPool2d(t, [3, 2]), x, new Array<number>(6).fill(1));
      expectClose([dx[4]!, dx[0]!], [1 / 4 + 1 / 6, 1 / 4], 1e-7, 1e-6, 'dx');
    });

    it('can upsample (output larger than the input): windows repeat input elements', async () => {
      const y = await adaptiveAvgPool2d(plane(1, 2, [2, 4]), [1, 3]).read();
      expectClose(y, [2, 3, 4], 1e-7, 1e-6, 'y');
    });

    it('global_avg_pool2d is the mean over H and W, [N, C, H, W] -> [N, C]', async () => {
      const x = o.reshape(arange(24), [2, 3, 2, 2]);
      const y = globalAvgPool2d(x);
      expect(y.shape).toEqual([2, 3]);
      expectClose(await y.read(), [1.5, 5.5, 9.5, 13.5, 17.5, 21.5], 1e-6, 1e-6, 'y');
      expectClose(await gradOf(globalAvgPool2d, x, [4, 0, 0, 0, 0, 8]), [1, 1, 1, 1, ...new Array<number>(16).fill(0), 2, 2, 2, 2], 1e-7, 1e-6, 'dx');
    });
  });

  describe('argument checks name the op, the argument, and what was expected', () => {
    const x = () => plane(4, 4);
    it.each<[string, () => unknown, RegExp]>([
      ['rank', () => maxPool2d(tensor([1, 2, 3, 4], [2, 2]), { kernelSize: 2 }), /max_pool2d: x must be NCHW \(rank 4\), got shape \[2, 2\]/],
      ['kernel', () => maxPool2d(x(), { kernelSize: 0 }), /max_pool2d: kernelSize must be an integer >= 1 or a pair of them, got 0/],
      ['stride', () => avgPool2d(x(), { kernelSize: 2, stride: [1, 0] }), /avg_pool2d: stride must be an integer >= 1 or a pair of them, got \[1,0\]/],
      ['padding', () => maxPool2d(x(), { kernelSize: 3, padding: 2 }), /max_pool2d: padding must be at most half the kernel size.*got \[2, 2\]/],
      ['too small', () => maxPool2d(x(), { kernelSize: 3, dilation: 2 }), /max_pool2d: input \[1, 1, 4, 4\] is too small.*output size would be \[0, 0\]/],
      ['output size', () => adaptiveAvgPool2d(x(), [0, 2]), /adaptive_avg_pool2d: outputSize must be an integer >= 1/],
      ['global rank', () => globalAvgPool2d(tensor([1, 2], [1, 2])), /global_avg_pool2d: x must be NCHW/],
    ])('%s', (_, f, msg) => {
      expect(f).toThrow(msg);
    });
  });
});
