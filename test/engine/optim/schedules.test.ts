/**
 * Learning-rate schedules against values worked out by hand from PyTorch's formulas (StepLR, MultiStepLR,
 * CosineAnnealingLR, SequentialLR of LinearLR and CosineAnnealingLR for the warmup), per parameter group.
 * No GPU work: schedules are CPU arithmetic on the optimizer's groups.
 */
import { describe, expect, it } from 'vitest';
import { CosineLR, MultiStepLR, StepLR, type SchedulableOptimizer } from '../../../engine/optim/index.js';

const groups = (...lrs: number[]): SchedulableOptimizer => ({ paramGroups: lrs.map((lr) => ({ lr })) });

/** The groups' lrs after construction and after each of n - 1 steps. */
function trace(s: { step(): void; getLastLr(): number[] }, n: number): number[][] {
  const out = [s.getLastLr()];
  for (let i = 1; i < n; i++) { s.step(); out.push(s.getLastLr()); }
  return out;
}

function expectLrs(got: number[][], want: number[][]): void {
  expect(got.length).toBe(want.length);
  got.forEach((row, e) => row.forEach((v, g) => {
    if (Math.abs(v - want[e]![g]!) > 1e-12) expect.fail(`epoch ${e}, group ${g}: lr ${v}, expected ${want[e]![g]}`);
  }));
}

describe('learning-rate schedules', () => {
  it('StepLR multiplies by gamma every stepSize epochs, each group from its own base lr', () => {
    const got = trace(new StepLR(groups(0.1, 0.02), { stepSize: 3, gamma: 0.5 }), 8);
    expectLrs(got, [0, 0, 0, 1, 1, 1, 2, 2].map((k) => [0.1 * 0.5 ** k, 0.02 * 0.5 ** k]));
  });

  it('MultiStepLR multiplies by gamma at each milestone (unsorted input; a repeated milestone counts twice)', () => {
    const got = trace(new MultiStepLR(groups(1), { milestones: [5, 2, 5], gamma: 0.1 }), 8);
    expectLrs(got, [[1], [1], [0.1], [0.1], [0.1], [0.001], [0.001], [0.001]]);
  });

  it('CosineLR without warmup is CosineAnnealingLR: base at 0, etaMin at tMax, rising again after', () => {
    const got = trace(new CosineLR(groups(1, 0.5), { tMax: 4, etaMin: 0.1 }), 7);
    const c = (base: number, t: number) => 0.1 + ((base - 0.1) * (1 + Math.cos((Math.PI * t) / 4))) / 2;
    expectLrs(got, [0, 1, 2, 3, 4, 5, 6].map((t) => [c(1, t), c(0.5, t)]));
    expect(got[4]![0]).toBeCloseTo(0.1, 12);
    expect(got[2]![0]).toBeCloseTo(0.55, 12);
  });

  it('CosineLR with warmup rises linearly from base * warmupStartFactor, then follows the cosine', () => {
    const got = trace(new CosineLR(groups(0.8), { tMax: 2, warmup: 4, warmupStartFactor: 0.25 }), 7);
    expectLrs(got, [[0.2], [0.35], [0.5], [0.65], [0.8], [0.4], [0]]);
  });

  it('sets the optimizer\'s groups, resumes from a state dict, and computes any epoch directly', () => {
    const opt = groups(0.1);
    const s = new StepLR(opt, { stepSize: 2 });
    s.step(); s.step(); s.step();
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.01, 15);
    const opt2 = groups(123);
    const s2 = new StepLR(opt2, { stepSize: 2 });
    s2.loadStateDict(s.stateDict());
    expect(s2.lastEpoch).toBe(3);
    s2.step();
    expect(opt2.paramGroups[0]!.lr).toBeCloseTo(0.001, 15);
    expect(s.lrAt(10)[0]).toBeCloseTo(0.1 * 0.1 ** 5, 15);
  });

  it('refuses bad arguments, naming them', () => {
    expect(() => new StepLR(groups(1), { stepSize: 0 })).toThrow(/StepLR: stepSize must be an integer > 0, got 0/);
    expect(() => new MultiStepLR(groups(1), { milestones: [1.5] })).toThrow(/MultiStepLR: milestones must be a list of integers >= 0/);
    expect(() => new CosineLR(groups(1), { tMax: 0 })).toThrow(/CosineLR: tMax must be a number > 0, got 0/);
    expect(() => new CosineLR(groups(1), { tMax: 5, warmup: 2, warmupStartFactor: 0 })).toThrow(/warmupStartFactor must be a number in \(0, 1\], got 0/);
    expect(() => new StepLR(groups(1), { stepSize: 1 }).lrAt(-1)).toThrow(/lrAt: epoch must be an integer >= 0, got -1/);
  });
});
