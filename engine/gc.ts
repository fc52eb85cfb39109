/**
 * Garbage collection on demand, for the native objects JavaScript cannot see the weight of. Every dispatch
 * creates a bind group; Dawn frees its Vulkan descriptor set only when the JS wrapper is collected, and a
 * training or attack loop makes so little JS garbage that the collector may not run for tens of thousands of
 * them. lavapipe then keeps allocating descriptor pools until it crashes (seen: APGD-T, 100 iterations x 9
 * targets, a segfault in DescriptorSetAllocator::AllocateDescriptorPool). So the recorder asks for a collection
 * every so many bind groups. V8 exposes gc() only behind --expose-gc; the flag can be set at run time and the
 * function fetched from a fresh context.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | null | undefined;

/** A full collection, where the runtime allows one (false where it does not). */
export function collectGarbage(): boolean {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  if (!collect) return false;
  collect();
  return true;
}
