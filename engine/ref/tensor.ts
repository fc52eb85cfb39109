/** Float64 CPU tensors for the reference implementations the audit and tests compare against. */
import { sizeOf, stridesOf, type Shape } from '../shape.js';

export interface RefTensor { readonly shape: number[]; readonly data: Float64Array }

export function ref(shape: Shape, data?: ArrayLike<number>): RefTensor {
  const n = sizeOf(shape);
  const d = data ? Float64Array.from(data) : new Float64Array(n);
  if (d.length !== n) throw new RangeError(`ref: ${d.length} values for shape [${shape.join(', ')}]`);
  return { shape: [...shape], data: d };
}

export function refMap(x: RefTensor, f: (v: number, i: number) => number): RefTensor {
  return { shape: [...x.shape], data: x.data.map(f) };
}

/** Applies f elementwise over the broadcast of a and b (NumPy rules; shapes are assumed compatible). */
export function refBroadcast(shapes: Shape[], out: Shape, f: (...vals: number[]) => number, ...xs: RefTensor[]): RefTensor {
  const n = sizeOf(out);
  const res = new Float64Array(n);
  const outStrides = stridesOf(out);
  const strides = shapes.map((s) => {
    const st = stridesOf(s);
    return out.map((d, o) => {
      const i = o - (out.length - s.length);
      return i < 0 || s[i] === 1 ? 0 : st[i]!;
    });
  });
  const vals = new Array<number>(xs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < xs.length; k++) {
      let off = 0;
      let rest = i;
      for (let d = 0; d < out.length; d++) {
        const c = Math.floor(rest / outStrides[d]!);
        rest -= c * outStrides[d]!;
        off += c * strides[k]![d]!;
      }
      vals[k] = xs[k]!.data[off]!;
    }
    res[i] = f(...vals);
  }
  return { shape: [...out], data: res };
}

/** Sums g (of shape `from`) down to `to` (the inverse of broadcasting). */
export function refSumTo(g: RefTensor, to: Shape): RefTensor {
  const out = new Float64Array(sizeOf(to));
  const from = g.shape;
  const fromStrides = stridesOf(from);
  const toStrides = stridesOf(to);
  for (let i = 0; i < g.data.length; i++) {
    let rest = i;
    let off = 0;
    for (let d = 0; d < from.length; d++) {
      const c = Math.floor(rest / fromStrides[d]!);
      rest -= c * fromStrides[d]!;
      const t = d - (from.length - to.length);
      if (t >= 0 && to[t] !== 1) off += c * toStrides[t]!;
    }
    out[off] += g.data[i]!;
  }
  return { shape: [...to], data: out };
}

/** For each output element (in order), the flat input indices reduced into it. */
export function refGroups(shape: Shape, axes: number[]): number[][] {
  const st = stridesOf(shape);
  const keptDims = [...shape.keys()].filter((i) => !axes.includes(i));
  const nOut = sizeOf(keptDims.map((i) => shape[i]!));
  const groups: number[][] = Array.from({ length: nOut }, () => []);
  const keptStrides = stridesOf(keptDims.map((i) => shape[i]!));
  for (let i = 0; i < sizeOf(shape); i++) {
    let out = 0;
    keptDims.forEach((d, k) => { out += (Math.floor(i / st[d]!) % shape[d]!) * keptStrides[k]!; });
    groups[out]!.push(i);
  }
  return groups;
}

