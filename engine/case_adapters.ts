/**
 * How each op of the reference-case format (REFERENCE_CASES.md) runs on the engine. Op files register the
 * adapters for the case ops they implement, next to the op itself; audit_cases.ts looks them up and
 * reports case ops with no adapter as skipped.
 */
import type { Tensor } from './tensor.js';

export type CaseParams = Record<string, unknown>;
export type CaseInputs = Record<string, Tensor>;
/** Runs one case: named input tensors and the case's params in, named outputs out. */
export type CaseAdapter = (inputs: CaseInputs, params: CaseParams) => Record<string, Tensor>;

/** What a case of the op must hold, so that a case file is refused on load rather than failing as it runs. */
export interface CaseSignature {
  /** The inputs the adapter reads unconditionally (optional ones, such as conv2d's bias, are not listed). */
  inputs?: readonly string[];
}

const adapters = new Map<string, { fn: CaseAdapter; signature: CaseSignature }>();

export function registerCaseAdapter(op: string, fn: CaseAdapter, signature: CaseSignature = {}): void {
  if (adapters.has(op)) throw new Error(`case adapter for '${op}' registered twice`);
  adapters.set(op, { fn, signature });
}

export function getCaseAdapter(op: string): CaseAdapter | undefined {
  return adapters.get(op)?.fn;
}

export function getCaseSignature(op: string): CaseSignature | undefined {
  return adapters.get(op)?.signature;
}

export function caseAdapterOps(): string[] {
  return [...adapters.keys()].sort();
}

/** Typed access to case params, with an error naming the param. */
export const param = {
  num(p: CaseParams, k: string): number {
    const v = p[k];
    if (typeof v !== 'number') throw new TypeError(`params.${k}: expected a number, got ${JSON.stringify(v)}`);
    return v;
  },
  optNum(p: CaseParams, k: string): number | null {
    return p[k] === null || p[k] === undefined ? null : param.num(p, k);
  },
  bool(p: CaseParams, k: string, fallback = false): boolean {
    return p[k] === undefined ? fallback : !!p[k];
  },
  ints(p: CaseParams, k: string): number[] {
    const v = p[k];
    if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) throw new TypeError(`params.${k}: expected a list of integers, got ${JSON.stringify(v)}`);
    return v as number[];
  },
};
