/**
 * The adapter's peak, measured in every run: bandwidth from a large buffer copy, both through the queue's
 * copyBufferToBuffer and through our copy kernel (copy.wgsl), the better of the two; arithmetic from a large
 * square matmul here, raised at the end by any better matmul row of the run (report.ts applyPeak).
 */
import { runCopy } from '../kernels/copy.js';
import { benchMatmul, squareCase } from './matmul.js';
import type { BenchContext } from './context.js';

/**
 * Runs at the start and at the end of the run (`when`), and the best of both counts: on a shared host
 * (lavapipe on 2 vCPUs) one probe can fall in a phase where other processes take a core.
 */
export async function peakProbe(ctx: BenchContext, when: 'start' | 'end' = 'start'): Promise<void> {
  const dev = ctx.device;
  const tag = when === 'end' ? ' (end of run)' : '';
  const mib = ctx.quick ? 32 : 128;
  const bytes = mib << 20;
  const src = dev.acquire(bytes);
  const dst = dev.acquire(bytes);
  try {
    const whole = (buffer: GPUBuffer): GPUBufferBinding => ({ buffer, offset: 0, size: bytes });
    const spec = (name: string, notes: string) => ({ suite: 'peak', name, shape: `${mib} MiB`, bytes: 2 * bytes, notes });
    await ctx.measure(spec(`copyBufferToBuffer ${mib} MiB${tag}`, 'bytes read + written'), () => dev.recorder.copy(src, 0, dst, 0, bytes));
    await ctx.measure(spec(`copy kernel ${mib} MiB${tag}`, 'copy.wgsl (strided word copy, rank 1), read + written'),
      () => runCopy(dev, whole(src), { offset: 0, strides: [1] }, whole(dst), { offset: 0, strides: [1] }, [bytes / 4]));
  } finally {
    dev.release(src);
    dev.release(dst);
  }
  const n = ctx.quick ? 512 : 1024;
  await benchMatmul(ctx, { ...squareCase(n), name: `matmul ${n}${tag}` }, 'peak');
}
