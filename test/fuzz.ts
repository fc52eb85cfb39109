/**
 * Seeded fuzzing of file readers: mutants of a valid seed file (truncations at every region boundary and at
 * random points, bit flips, random byte runs, random files, and for JSON-bearing formats values of the wrong
 * type at random places of the JSON), each written to disk and read. A reader passes when every mutant either
 * reads into something the caller's check accepts, or throws the reader's own error class with a message
 * naming the file; a RangeError or TypeError from deep inside, a hang or a huge allocation fails the test.
 */
import { writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { CpuRandom } from '../engine/ref/random.js';

export interface Mutant { what: string; bytes: Buffer }

const int = (rng: CpuRandom, n: number): number => Math.floor(rng.next() * n);
const pick = <T>(rng: CpuRandom, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

/** Byte-level mutants of `seed`: truncations at each boundary (and one byte either side), then `random` more. */
export function byteMutants(seed: Buffer, rng: CpuRandom, opts: { boundaries: number[]; random: number; header?: [number, number] }): Mutant[] {
  const out: Mutant[] = [];
  const cuts = new Set<number>();
  for (const b of [0, ...opts.boundaries]) for (const d of [-1, 0, 1]) if (b + d >= 0 && b + d < seed.length) cuts.add(b + d);
  for (const c of [...cuts].sort((a, b) => a - b)) out.push({ what: `truncated to ${c} bytes`, bytes: seed.subarray(0, c) });
  const [h0, h1] = opts.header ?? [0, seed.length];
  for (let k = 0; k < opts.random; k++) {
    const b = Buffer.from(seed);
    switch (int(rng, 7)) {
      case 0: { // a truncation anywhere
        const c = int(rng, seed.length);
        out.push({ what: `truncated to ${c} bytes`, bytes: seed.subarray(0, c) });
        break;
      }
      case 1: case 2: { // bit flips in the header region
        const n = 1 + int(rng, 4);
        const at: number[] = [];
        for (let i = 0; i < n; i++) { const p = h0 + int(rng, Math.max(1, h1 - h0)); b[p]! ^= 1 << int(rng, 8); at.push(p); }
        out.push({ what: `header bits flipped at ${at.join(', ')}`, bytes: b });
        break;
      }
      case 3: { // bit flips anywhere
        const p = int(rng, seed.length);
        b[p]! ^= 1 << int(rng, 8);
        out.push({ what: `bit flipped at ${p}`, bytes: b });
        break;
      }
      case 4: { // a run of random bytes
        const p = int(rng, seed.length);
        const n = 1 + int(rng, 16);
        for (let i = p; i < Math.min(seed.length, p + n); i++) b[i] = int(rng, 256);
        out.push({ what: `${n} random bytes at ${p}`, bytes: b });
        break;
      }
      case 5: { // bytes inserted or removed
        const p = int(rng, seed.length);
        const n = 1 + int(rng, 9);
        const cut = rng.next() < 0.5;
        const bytes = cut ? Buffer.concat([seed.subarray(0, p), seed.subarray(p + n)]) : Buffer.concat([seed.subarray(0, p), Buffer.from(Array.from({ length: n }, () => int(rng, 256))), seed.subarray(p)]);
        out.push({ what: `${n} bytes ${cut ? 'removed' : 'inserted'} at ${p}`, bytes });
        break;
      }
      default: { // a random file
        const n = int(rng, 2 * seed.length);
        out.push({ what: `${n} random bytes`, bytes: Buffer.from(Array.from({ length: n }, () => int(rng, 256))) });
      }
    }
  }
  return out;
}

const WRONG: readonly unknown[] = [null, -1, 0, 1.5, -0.5, 2 ** 31, 2 ** 53, 1e300, -1e300, '', 'x', 'F32', [], [null], [-1, 2], [1.5], {}, { a: 1 }, true, false];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every place in a JSON value: the container and the key or index, as a path. */
function places(v: Json, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([...path, i]); places(x, [...path, i], out); });
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push([...path, k]); places(x, [...path, k], out); }
  return out;
}

/** One structural change at a random place: a value of another type, a neighbouring number, a removal or an extra key. */
export function mutateJson(doc: Json, rng: CpuRandom): { what: string; doc: Json } {
  const copy = JSON.parse(JSON.stringify(doc)) as Json;
  const all = places(copy);
  if (!all.length) return { what: 'replaced whole', doc: pick(rng, WRONG) as Json };
  const path = pick(rng, all);
  let parent = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const key = path.at(-1)!;
  const where = path.join('.');
  const old = parent[key];
  switch (int(rng, 5)) {
    case 0:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      return { what: `removed ${where}`, doc: copy };
    case 1:
      if (typeof old === 'number') { parent[key] = pick(rng, [old + 1, old - 1, -old, old * 2 ** 20, old + 0.5]); return { what: `${where}: ${old} -> ${parent[key]}`, doc: copy }; }
      parent[key] = pick(rng, WRONG) as Json;
      return { what: `${where} = ${JSON.stringify(parent[key])}`, doc: copy };
    case 2:
      if (old && typeof old === 'object' && !Array.isArray(old)) { old[pick(rng, ['extra', '__proto__', 'constructor', 'dtype', 'shape'])] = pick(rng, WRONG) as Json; return { what: `key added in ${where}`, doc: copy }; }
      parent[key] = pick(rng, WRONG) as Json;
      return { what: `${where} = ${JSON.stringify(parent[key])}`, doc: copy };
    default:
      parent[key] = pick(rng, WRONG) as Json;
      return { what: `${where} = ${JSON.stringify(parent[key])}`, doc: copy };
  }
}

export interface FuzzReport { inputs: number; accepted: number; refused: number; ms: number; slowestMs: number }

/**
 * Writes each mutant to `path` and reads it with `read`. A mutant passes when it is read and `check` accepts
 * the result, or when `read` throws an instance of `errorClass` whose message names `path`. Every failure is
 * collected and reported together with the mutant that caused it.
 */
export async function fuzzReader<T>(path: string, mutants: Mutant[], errorClass: abstract new (...args: never[]) => Error, read: (path: string) => T | Promise<T>, check: (result: T, m: Mutant) => void | Promise<void>): Promise<FuzzReport> {
  const failures: string[] = [];
  let accepted = 0;
  let slowest = 0;
  const t0 = performance.now();
  for (const m of mutants) {
    writeFileSync(path, m.bytes);
    const t = performance.now();
    let result: T;
    try {
      result = await read(path);
    } catch (e) {
      slowest = Math.max(slowest, performance.now() - t);
      if (!(e instanceof errorClass)) failures.push(`${m.what}: ${(e as Error)?.constructor?.name} instead of ${errorClass.name}: ${(e as Error)?.stack ?? String(e)}`);
      else if (!e.message.includes(path)) failures.push(`${m.what}: the message does not name the file: ${e.message}`);
      continue;
    }
    slowest = Math.max(slowest, performance.now() - t);
    try {
      await check(result, m);
      accepted++;
    } catch (e) {
      failures.push(`${m.what}: read, but inconsistent: ${(e as Error).message}`);
    }
  }
  expect(failures.slice(0, 10), `${failures.length} of ${mutants.length} mutants failed`).toEqual([]);
  return { inputs: mutants.length, accepted, refused: mutants.length - accepted, ms: performance.now() - t0, slowestMs: slowest };
}
