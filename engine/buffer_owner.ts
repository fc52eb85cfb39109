/**
 * Which Storage holds a pooled GPU buffer now: the pool hands a buffer to one tensor after another, and the
 * device looks the holder up for every binding of every dispatch (to refuse invalid inputs and to note what a
 * submission writes). A property on the buffer object, because a Map keyed by buffers costs 10-25x more there.
 */
import type { Storage } from './tensor.js';

const OWNER = Symbol('robustgpu.owner');
type Owned = GPUBuffer & { [OWNER]?: Storage | null };

export function ownerOf(buf: GPUBuffer): Storage | null {
  return (buf as Owned)[OWNER] ?? null;
}

export function setOwner(buf: GPUBuffer, owner: Storage | null): void {
  (buf as Owned)[OWNER] = owner;
}
