/**
 * Tensors: a shape and a dtype over a contiguous pooled GPU buffer (Storage). Storage is reference counted
 * so that views (reshape) and tensors saved for backward share it; the buffer returns to the pool when the
 * last reference goes. Methods are thin aliases of the functional ops in engine/ops.
 */
import { InvalidTensorError, type Device } from './device.js';
import { ownerOf, setOwner } from './buffer_owner.js';
import { storageBytes, typedArrayFor, type DType, type TypedArray } from './dtype.js';
import { fmt, sizeOf, type Shape } from './shape.js';
import { track } from './scope.js';
import type { Node } from './tape.js';
import { TENSOR_BRAND } from './tree.js';
import * as ops from './ops/index.js';

export class Storage {
  refs = 1;
  /** Bumped by in-place writes, so backward can refuse tensors modified after being saved. */
  version = 0;
  /**
   * Why the buffer holds no valid data (a submission that should have written it failed), or null. Set by the
   * recorder; reading the tensor or binding it to a kernel throws this.
   */
  invalid: string | null = null;
  /** The recorder's bookkeeping: the last submission listing this storage as written. */
  writtenIn = -1;
  constructor(readonly device: Device, readonly buffer: GPUBuffer, readonly bytes: number) {
    device.liveBytes += bytes;
    setOwner(buffer, this);
  }

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs > 0) return;
    this.device.liveBytes -= this.bytes;
    if (ownerOf(this.buffer) === this) setOwner(this.buffer, null);
    this.device.release(this.buffer);
  }

  /** The binding of this storage's bytes (at least 4: WebGPU refuses empty bindings). */
  binding(): GPUBufferBinding {
    return { buffer: this.buffer, offset: 0, size: Math.max(4, this.bytes) };
  }
}

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  private _node: Node | null = null;
  private _outputIndex = 0;
  private _requiresGrad = false;
  private _disposed = false;

  /** Internal: use the creation functions (tensor, zeros, randn, ...). */
  constructor(readonly storage: Storage, readonly shape: readonly number[], readonly dtype: DType, tracked = true) {
    this.size = sizeOf(shape);
    storage.device.liveTensors++;
    if (tracked) track(this);
  }

  get device(): Device { return this.storage.device; }
  get rank(): number { return this.shape.length; }
  get disposed(): boolean { return this._disposed; }
  get node(): Node | null { return this._node; }
  /** Which output of its node this tensor is (ops with several outputs). */
  get outputIndex(): number { return this._outputIndex; }

  /** True for leaves marked trainable and for every result computed from one while grad mode was on. */
  get requiresGrad(): boolean { return this._requiresGrad || this._node !== null; }
  set requiresGrad(v: boolean) {
    if (this._node) throw new Error(`requiresGrad can only be set on leaf tensors; tensor #${this.id} is the result of '${this._node.op}'`);
    if (v && this.dtype !== 'float32') throw new TypeError(`requiresGrad: only float32 tensors can require grad, tensor #${this.id} is ${this.dtype}`);
    this._requiresGrad = v;
  }

  /** Internal (tape): makes this tensor output `index` of `node`. */
  attachNode(node: Node, index = 0): void {
    this._node = node;
    this._outputIndex = index;
    node.refs++;
  }

  /** A new tensor sharing this one's storage, outside every scope (the tape saves tensors this way). */
  alias(shape: Shape = this.shape): Tensor {
    return new Tensor(this.storage.retain(), [...shape], this.dtype, false);
  }

  /** The same data, cut from the graph: no gradient flows back through it. */
  detach(): Tensor {
    this.assertLive('detach');
    return new Tensor(this.storage.retain(), this.shape, this.dtype);
  }

  assertLive(what: string): void {
    if (this._disposed) throw new Error(`${what}: tensor #${this.id} (${this.dtype} ${fmt(this.shape)}) has been disposed`);
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.storage.device.liveTensors--;
    this.storage.release();
    if (this._node) { const n = this._node; this._node = null; n.unref(); }
    this.grad?.dispose();
    this.grad = null;
  }

  /**
   * Copies the data to the CPU. Submits pending work first. Throws InvalidTensorError when a failed submission
   * should have written the data, also when that failure is found during this read (another read reported it).
   */
  async read(): Promise<TypedArray> {
    this.assertLive('read');
    this.assertValid();
    const bytes = storageBytes(this.dtype, this.size);
    if (bytes === 0) return typedArrayFor(this.dtype, new ArrayBuffer(0), 0);
    const data = await this.device.readBuffer(this.storage.buffer, bytes);
    this.assertValid();
    return typedArrayFor(this.dtype, data, this.size);
  }

  private assertValid(): void {
    if (this.storage.invalid) throw new InvalidTensorError(`read: tensor #${this.id} (${this.dtype} ${fmt(this.shape)}) holds no valid data: ${this.storage.invalid}`);
  }

  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new RangeError(`item: tensor #${this.id} has ${this.size} elements (shape ${fmt(this.shape)}), expected 1`);
    return (await this.read())[0]!;
  }

  /** Nested arrays, for printing and tests. */
  async toArray(): Promise<unknown> {
    const flat = Array.from(await this.read());
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return flat[off];
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }

  declare readonly [TENSOR_BRAND]: true;

  toString(): string {
    return `Tensor#${this.id}(${this.dtype} ${fmt(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /** Backpropagates from this tensor (a scalar unless `seed` is given) into the `.grad` of every leaf. */
  backward(seed?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    ops.backward(this, seed, opts);
  }

  clone(): Tensor { return ops.clone(this); }
  add(b: Tensor | number): Tensor { return ops.add(this, b); }
  sub(b: Tensor | number): Tensor { return ops.sub(this, b); }
  mul(b: Tensor | number): Tensor { return ops.mul(this, b); }
  div(b: Tensor | number): Tensor { return ops.div(this, b); }
  pow(b: Tensor | number): Tensor { return ops.pow(this, b); }
  minimum(b: Tensor | number): Tensor { return ops.minimum(this, b); }
  maximum(b: Tensor | number): Tensor { return ops.maximum(this, b); }
  neg(): Tensor { return ops.neg(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  abs(): Tensor { return ops.abs(this); }
  sign(): Tensor { return ops.sign(this); }
  square(): Tensor { return ops.square(this); }
  reciprocal(): Tensor { return ops.reciprocal(this); }
  clamp(min: number | null, max: number | null): Tensor { return ops.clamp(this, min, max); }
  eq(b: Tensor | number): Tensor { return ops.eq(this, b); }
  ne(b: Tensor | number): Tensor { return ops.ne(this, b); }
  lt(b: Tensor | number): Tensor { return ops.lt(this, b); }
  le(b: Tensor | number): Tensor { return ops.le(this, b); }
  gt(b: Tensor | number): Tensor { return ops.gt(this, b); }
  ge(b: Tensor | number): Tensor { return ops.ge(this, b); }
  sum(axes?: number | number[], keepDims = false): Tensor { return ops.sum(this, axes, keepDims); }
  mean(axes?: number | number[], keepDims = false): Tensor { return ops.mean(this, axes, keepDims); }
  max(axes?: number | number[], keepDims = false): Tensor { return ops.max(this, axes, keepDims); }
  min(axes?: number | number[], keepDims = false): Tensor { return ops.min(this, axes, keepDims); }
  variance(axes?: number | number[], opts: { keepDims?: boolean; correction?: number } = {}): Tensor { return ops.variance(this, axes, opts); }
  argmax(axis: number, keepDims = false): Tensor { return ops.argmax(this, axis, keepDims); }
  argmin(axis: number, keepDims = false): Tensor { return ops.argmin(this, axis, keepDims); }
  matmul(b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor { return ops.matmul(this, b, opts); }
  reshape(shape: readonly number[]): Tensor { return ops.reshape(this, shape); }
  flatten(startDim = 0): Tensor { return ops.flatten(this, startDim); }
  permute(dims: readonly number[]): Tensor { return ops.permute(this, dims); }
  transpose(dim0 = -2, dim1 = -1): Tensor { return ops.transpose(this, dim0, dim1); }
  slice(dim: number, start: number, end?: number): Tensor { return ops.slice(this, dim, start, end); }
  broadcastTo(shape: readonly number[]): Tensor { return ops.broadcastTo(this, shape); }
  gather(axis: number, index: Tensor): Tensor { return ops.gather(this, axis, index); }
  indexSelect(axis: number, index: Tensor, opts: { unique?: boolean } = {}): Tensor { return ops.indexSelect(this, axis, index, opts); }
  scatter(axis: number, index: Tensor, src: Tensor, opts: { reduce?: 'none' | 'add'; unique?: boolean } = {}): Tensor { return ops.scatter(this, axis, index, src, opts); }
  indexCopy(axis: number, index: Tensor, src: Tensor, opts: { unique?: boolean } = {}): Tensor { return ops.indexCopy(this, axis, index, src, opts); }
  indexAdd(axis: number, index: Tensor, src: Tensor, opts: { alpha?: number } = {}): Tensor { return ops.indexAdd(this, axis, index, src, opts); }
}

Object.defineProperty(Tensor.prototype, TENSOR_BRAND, { value: true });
