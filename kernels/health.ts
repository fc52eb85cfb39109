/** Wrapper of health.wgsl: non-finite counts per quantity, and the judgement that gates the optimizer step. */
import { Kernel, grid1d, type Dispatcher } from './kernel.js';

const health = Kernel.fromFile('health', 'health.wgsl');

export interface HealthBuffers { counts: GPUBufferBinding; state: GPUBufferBinding; gate: GPUBufferBinding }

/** counts[slot] += non-finite elements of x [n]. */
export function runCountNonFinite(d: Dispatcher, x: GPUBufferBinding, b: HealthBuffers, n: number, slot: number): void {
  if (n === 0) return;
  d.run(health, { buffers: { x, ...b }, params: { n, slot, step: 0 }, overrides: { MODE: 0 }, workgroups: grid1d(n, 256) });
}

/** Judges the step's counts: updates the state and writes the gate (see health.wgsl). */
export function runJudge(d: Dispatcher, anyX: GPUBufferBinding, b: HealthBuffers, step: number, stop: boolean): void {
  d.run(health, { buffers: { x: anyX, ...b }, params: { n: 0, slot: 0, step }, overrides: { MODE: 1, STOP: stop }, workgroups: [1, 1, 1] });
}
