/**
 * Targeted attacks over several target classes (APGD-T, FAB-T), one target class at a time with the GPU
 * drained in between. A whole APGD-T or FAB-T (9 targets x 100 iterations) recorded without an await never lets
 * Dawn see a submission complete, so neither the buffers it released nor its Vulkan descriptor sets come back:
 * lavapipe crashed allocating descriptor pools (FAB-T on 300 images). Awaiting between targets bounds that.
 */
import type { Device } from '../../engine/device.js';
import { scope } from '../../engine/scope.js';
import { WorstCase, type AttackResult } from './result.js';

/** Runs `attack(rank)` for the target ranks 1..count (1: the most likely class after the top one), keeping the worst case per example. */
export async function eachTarget(device: Device, count: number, attack: (rank: number) => AttackResult): Promise<AttackResult> {
  let worst: WorstCase | null = null;
  try {
    for (let rank = 1; rank <= count; rank++) {
      const r = scope(() => attack(rank));
      if (!worst) worst = WorstCase.start(r.xAdv, r.loss, r.fooled);
      else worst.merge(r);
      for (const t of [r.xAdv, r.fooled, r.loss]) t.dispose();
      await device.sync();
    }
  } catch (e) {
    worst?.dispose();
    throw e;
  }
  return worst!.result();
}
