/**
 * Runs reference-case files (../shared/docs/REFERENCE_CASES.md): each case's inputs go through the engine
 * on the device in float32, and every output and gradient is compared with the stored values. Ops the
 * engine lacks are reported as skipped, never dropped; a malformed file is an error naming the file, the
 * case and the field.
 *
 * Optimizer cases (sgd, adam, adamw) nest their tensors: inputs {params: {name: T}, grads_per_step: [{name: T}]}
 * and outputs {params_per_step: [{name: T}], state_per_step (ignored)}. They are flattened on load to the
 * names `params.NAME`, `grads_per_step[K].NAME` and `params_per_step[K].NAME`, so that they run and compare
 * like any other case (a failure names e.g. `outputs.params_per_step[2].fc.weight[3]`).
 */
import { readFileSync } from 'node:fs';
import { compare, DEFAULT_TOLERANCE, type Tolerance } from './compare.js';
import { tensor } from './create.js';
import { noGrad } from './tape.js';
import { scope } from './scope.js';
import { sizeOf } from './shape.js';
import * as o from './ops/index.js';
import type { Device } from './device.js';
import { caseAdapterOps, getCaseAdapter, getCaseSignature, registerCaseAdapter, param, type CaseAdapter, type CaseParams } from './case_adapters.js';
import type { Tensor } from './tensor.js';
import { SGD, Adam, AdamW } from './optim/index.js';

export class CaseFileError extends Error {}

interface CaseTensor { shape: number[]; dtype: 'float32' | 'float64' | 'int64'; data: number[] }
interface Case {
  name: string; op: string; params: Record<string, unknown>; inputs: Record<string, CaseTensor>; outputs: Record<string, CaseTensor>;
  gout: CaseTensor | null; gout_for: string | null; grads: Record<string, CaseTensor>;
}

export interface CaseResult {
  file: string; case: string; op: string; status: 'pass' | 'fail' | 'skipped';
  /** Largest error as a fraction of the tolerance over all compared tensors. */
  worstRatio: number; maxAbs: number; detail: string;
}

// Composite functions that are not single engine ops; the ops register their own adapters.
registerCaseAdapter('linear', (x) => {
  const out = o.matmul(x.x!, x.weight!, { transB: true });
  return { y: x.bias ? o.add(out, x.bias) : out };
}, { inputs: ['x', 'weight'] });
// A 2-layer MLP, mean((relu(x W1^T + b1) W2^T + b2 - t)^2): autodiff through a composite function.
registerCaseAdapter('mlp2', (x) => {
  const h = o.maximum(o.add(o.matmul(x.x!, x.w1!, { transB: true }), x.b1!), 0);
  const out = o.add(o.matmul(h, x.w2!, { transB: true }), x.b2!);
  return { loss: o.mean(o.square(o.sub(out, x.t!))) };
}, { inputs: ['x', 'w1', 'b1', 'w2', 'b2', 't'] });
// The tiny network of the CNN-kernels issue: conv 3->8 (no bias), BN, SiLU, conv 8->16 stride 2, ReLU,
// global average pool, linear, mean cross-entropy; in training mode BN uses batch statistics and its running
// statistics (cloned from the case's inputs) are outputs too.
registerCaseAdapter('tiny_net', (x, p) => {
  const training = param.bool(p, 'training');
  const rm = o.clone(x['bn1.running_mean']!);
  const rv = o.clone(x['bn1.running_var']!);
  const h1 = o.conv2d(x.x!, x['conv1.weight']!, { padding: 1 });
  const bn = o.batchNorm2d(h1, x['bn1.weight']!, x['bn1.bias']!, rm, rv, { mode: training ? 'train' : 'eval', momentum: param.num(p, 'momentum'), eps: param.num(p, 'eps') });
  const h2 = o.relu(o.conv2d(o.silu(bn), x['conv2.weight']!, { bias: x['conv2.bias']!, stride: 2, padding: 1 }));
  const logits = o.add(o.matmul(o.globalAvgPool2d(h2), x['fc.weight']!, { transB: true }), x['fc.bias']!);
  const out: Record<string, Tensor> = { loss: o.crossEntropy(logits, x.labels!), logits };
  if (training) { out['bn1.running_mean'] = rm; out['bn1.running_var'] = rv; }
  return out;
}, { inputs: ['x', 'labels', 'conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'conv2.weight', 'conv2.bias', 'fc.weight', 'fc.bias'] });

/** Ops whose cases nest their tensors per step (see the header). */
const OPTIMIZER_OPS = new Set(['sgd', 'adam', 'adamw']);

/** Outputs compared for ops whose cases may hold more (REFERENCE_CASES.md: pgd_l2_step's intermediates may be ignored). */
const COMPARED_OUTPUTS: Record<string, readonly string[]> = { pgd_l2_step: ['x_adv_new'] };

function isCompared(op: string, output: string): boolean {
  return !Object.hasOwn(COMPARED_OUTPUTS, op) || COMPARED_OUTPUTS[op]!.includes(output);
}

function caseBetas(p: CaseParams): [number, number] {
  const v = p.betas ?? [0.9, 0.999];
  if (!Array.isArray(v) || v.length !== 2 || v.some((b) => typeof b !== 'number')) throw new TypeError(`params.betas: expected two numbers, got ${JSON.stringify(v)}`);
  return [v[0] as number, v[1] as number];
}

/** Runs the steps of a flattened optimizer case on the case's own parameter tensors (updated in place). */
function optimizerAdapter(make: (params: Tensor[], p: CaseParams) => { step(): void; dispose(): void }): CaseAdapter {
  return (x, p) => {
    const names = Object.keys(x).filter((k) => k.startsWith('params.')).map((k) => k.slice('params.'.length));
    const params = names.map((n) => x[`params.${n}`]!);
    let steps = p.steps === undefined ? 0 : param.num(p, 'steps');
    for (const k of Object.keys(x)) {
      const m = /^grads_per_step\[(\d+)\]\./.exec(k);
      if (m) steps = Math.max(steps, Number(m[1]) + 1);
    }
    const opt = make(params, p);
    const out: Record<string, Tensor> = {};
    try {
      for (let k = 0; k < steps; k++) {
        params.forEach((t, i) => { t.grad = x[`grads_per_step[${k}].${names[i]}`] ?? null; });
        opt.step();
        params.forEach((t, i) => { out[`params_per_step[${k}].${names[i]}`] = o.clone(t); });
      }
    } finally {
      // The gradients are case inputs, disposed with them.
      for (const t of params) t.grad = null;
      opt.dispose();
    }
    return out;
  };
}
registerCaseAdapter('sgd', optimizerAdapter((params, p) => new SGD(params, {
  lr: param.num(p, 'lr'), momentum: param.optNum(p, 'momentum') ?? 0, dampening: param.optNum(p, 'dampening') ?? 0,
  weightDecay: param.optNum(p, 'weight_decay') ?? 0, nesterov: param.bool(p, 'nesterov'),
})));
for (const [name, Opt, wd] of [['adam', Adam, 0], ['adamw', AdamW, 1e-2]] as const) {
  registerCaseAdapter(name, optimizerAdapter((params, p) => new Opt(params, {
    lr: param.optNum(p, 'lr') ?? 1e-3, betas: caseBetas(p), eps: param.optNum(p, 'eps') ?? 1e-8,
    weightDecay: param.optNum(p, 'weight_decay') ?? wd, amsgrad: param.bool(p, 'amsgrad'),
  })));
}

export function supportedCaseOps(): string[] {
  return caseAdapterOps();
}

function fail(file: string, where: string, msg: string): never {
  throw new CaseFileError(`${file}: ${where}: ${msg}`);
}

function checkTensor(file: string, where: string, t: unknown): CaseTensor {
  if (!t || typeof t !== 'object') fail(file, where, 'expected a tensor object {shape, dtype, data}');
  const c = t as CaseTensor;
  if (!Array.isArray(c.shape) || c.shape.some((d) => !Number.isInteger(d) || d < 0)) fail(file, `${where}.shape`, `expected an array of non-negative integers, got ${JSON.stringify(c.shape)}`);
  if (!['float32', 'float64', 'int64'].includes(c.dtype)) fail(file, `${where}.dtype`, `expected float32, float64 or int64, got ${JSON.stringify(c.dtype)}`);
  if (!Array.isArray(c.data) || c.data.length !== sizeOf(c.shape)) fail(file, `${where}.data`, `expected ${sizeOf(c.shape)} values for shape [${c.shape.join(', ')}], got ${Array.isArray(c.data) ? c.data.length : typeof c.data}`);
  const bad = c.data.findIndex((v) => typeof v !== 'number');
  if (bad >= 0) fail(file, `${where}.data[${bad}]`, `expected a number, got ${JSON.stringify(c.data[bad])}`);
  // int64 holds class labels, which the engine keeps as int32: converted only when exact.
  if (c.dtype === 'int64') {
    const i = c.data.findIndex((v) => !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31);
    if (i >= 0) fail(file, `${where}.data[${i}]`, `int64 value ${c.data[i]} is not an integer in the int32 range the engine holds labels in`);
  }
  return c;
}

function checkTensors(file: string, where: string, m: unknown): Record<string, CaseTensor> {
  if (!m || typeof m !== 'object' || Array.isArray(m)) fail(file, where, 'expected an object of tensors');
  return Object.fromEntries(Object.entries(m as object).map(([k, v]) => [k, checkTensor(file, `${where}.${k}`, v)]));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** The nested inputs and outputs of an optimizer case, flattened (see the header) and checked against each other. */
function optimizerTensors(file: string, where: string, c: { inputs?: unknown; outputs?: unknown; params?: unknown }): { inputs: Record<string, CaseTensor>; outputs: Record<string, CaseTensor> } {
  const ins = c.inputs;
  if (!isObject(ins)) fail(file, `${where}.inputs`, 'expected {params: {name: tensor}, grads_per_step: [{name: tensor}, ...]}');
  const params = checkTensors(file, `${where}.inputs.params`, ins.params);
  if (!Object.keys(params).length) fail(file, `${where}.inputs.params`, 'expected at least one parameter');
  const perStep = (field: string, v: unknown, n: number | null): Record<string, CaseTensor>[] => {
    if (!Array.isArray(v)) fail(file, field, 'expected an array with one {name: tensor} object per step');
    if (n !== null && v.length !== n) fail(file, field, `expected ${n} steps (as inputs.grads_per_step), got ${v.length}`);
    return v.map((step, k) => {
      const ts = checkTensors(file, `${field}[${k}]`, step);
      for (const [name, t] of Object.entries(ts)) {
        const p = Object.hasOwn(params, name) ? params[name] : undefined;
        if (!p) fail(file, `${field}[${k}].${name}`, `names no parameter (inputs.params has ${Object.keys(params).join(', ')})`);
        if (p.shape.join() !== t.shape.join()) fail(file, `${field}[${k}].${name}.shape`, `[${t.shape}] differs from the parameter's [${p.shape}]`);
      }
      return ts;
    });
  };
  const grads = perStep(`${where}.inputs.grads_per_step`, ins.grads_per_step, null);
  const steps = isObject(c.params) ? c.params.steps : undefined;
  if (steps !== undefined && steps !== grads.length) fail(file, `${where}.params.steps`, `is ${JSON.stringify(steps)} but inputs.grads_per_step has ${grads.length} steps`);
  const outs = c.outputs;
  if (!isObject(outs)) fail(file, `${where}.outputs`, 'expected {params_per_step: [{name: tensor}, ...], state_per_step (ignored)}');
  const after = perStep(`${where}.outputs.params_per_step`, outs.params_per_step, grads.length);
  const inputs: Record<string, CaseTensor> = {};
  for (const [name, t] of Object.entries(params)) inputs[`params.${name}`] = t;
  grads.forEach((g, k) => { for (const [name, t] of Object.entries(g)) inputs[`grads_per_step[${k}].${name}`] = t; });
  const outputs: Record<string, CaseTensor> = {};
  after.forEach((s, k) => { for (const [name, t] of Object.entries(s)) outputs[`params_per_step[${k}].${name}`] = t; });
  return { inputs, outputs };
}

/** Reads and validates a case file; throws CaseFileError naming the file, case and field. */
export function loadCaseFile(file: string): Case[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CaseFileError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `not valid JSON: ${(e as Error).message}`}`);
  }
  const d = doc as { schema_version?: unknown; cases?: unknown };
  if (!d || typeof d !== 'object') fail(file, 'top level', 'expected an object');
  if (d.schema_version !== 1) fail(file, 'schema_version', `expected 1, got ${JSON.stringify(d.schema_version)}`);
  if (!Array.isArray(d.cases)) fail(file, 'cases', 'expected an array');
  const names = new Set<string>();
  return d.cases.map((raw: unknown, i: number) => {
    const c = raw as Partial<Case>;
    const where = `case ${typeof c?.name === 'string' ? `'${c.name}'` : `#${i}`}`;
    if (!c || typeof c !== 'object') fail(file, `case #${i}`, 'expected an object');
    if (typeof c.name !== 'string' || !c.name) fail(file, `${where}.name`, 'expected a non-empty string');
    if (names.has(c.name)) fail(file, `${where}.name`, 'duplicate case name');
    names.add(c.name);
    if (typeof c.op !== 'string') fail(file, `${where}.op`, 'expected a string');
    const params = c.params ?? {};
    if (typeof params !== 'object' || Array.isArray(params)) fail(file, `${where}.params`, 'expected an object');
    const { inputs, outputs } = OPTIMIZER_OPS.has(c.op)
      ? optimizerTensors(file, where, c)
      : { inputs: checkTensors(file, `${where}.inputs`, c.inputs), outputs: checkTensors(file, `${where}.outputs`, c.outputs) };
    const gout = c.gout === null || c.gout === undefined ? null : checkTensor(file, `${where}.gout`, c.gout);
    const goutFor = c.gout_for ?? null;
    if (gout && (typeof goutFor !== 'string' || !Object.hasOwn(outputs, goutFor))) fail(file, `${where}.gout_for`, `must name one of the outputs (${Object.keys(outputs).join(', ')}), got ${JSON.stringify(goutFor)}`);
    if (gout && goutFor && outputs[goutFor]!.shape.join() !== gout.shape.join()) fail(file, `${where}.gout`, `shape [${gout.shape}] differs from outputs.${goutFor} [${outputs[goutFor]!.shape}]`);
    const grads = c.grads === undefined || c.grads === null ? {} : checkTensors(file, `${where}.grads`, c.grads);
    for (const k of Object.keys(grads)) if (!Object.hasOwn(inputs, k)) fail(file, `${where}.grads.${k}`, 'names no input');
    if (Object.keys(grads).length && !gout) fail(file, `${where}.gout`, 'grads are given but gout is null');
    const op = c.op;
    if (!Object.keys(outputs).some((k) => isCompared(op, k)) && !Object.keys(grads).length) {
      fail(file, `${where}.outputs`, `the case compares nothing: no outputs${Object.hasOwn(COMPARED_OUTPUTS, op) ? ` among ${COMPARED_OUTPUTS[op]!.join(', ')}` : ''} and no grads`);
    }
    const needs = getCaseSignature(op)?.inputs ?? [];
    for (const k of needs) {
      if (!Object.hasOwn(inputs, k)) fail(file, `${where}.inputs.${k}`, `missing: op '${op}' needs inputs ${needs.join(', ')} (the case has ${Object.keys(inputs).join(', ') || 'none'})`);
    }
    return { name: c.name, op: c.op, params: params as CaseParams, inputs, outputs, gout, gout_for: goutFor, grads };
  });
}

function toTensor(device: Device, t: CaseTensor): Tensor {
  return tensor(t.data, t.shape, { device, dtype: t.dtype === 'int64' ? 'int32' : 'float32' });
}

async function runCase(device: Device, file: string, c: Case, tol: Tolerance): Promise<CaseResult> {
  const base = { file, case: c.name, op: c.op };
  const adapter = getCaseAdapter(c.op);
  if (!adapter) return { ...base, status: 'skipped', worstRatio: 0, maxAbs: 0, detail: 'skipped (unsupported op)' };
  const targets = Object.keys(c.grads);
  const produced = scope(() => {
    const x = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toTensor(device, v)]));
    const outs = noGrad(() => adapter(x, c.params));
    let grads: Record<string, Tensor> = {};
    if (c.gout && targets.length) {
      const seed = toTensor(device, c.gout);
      const r = o.valueAndGrad(() => adapter(x, c.params)[c.gout_for!]!, targets.map((k) => x[k]!), { seed });
      grads = Object.fromEntries(targets.map((k, i) => [k, r.grads[i]!]));
    }
    return { outs, grads };
  });
  const checks: [string, Tensor | undefined, CaseTensor][] = [
    ...Object.entries(c.outputs).filter(([k]) => isCompared(c.op, k))
      .map(([k, v]) => [`outputs.${k}`, Object.hasOwn(produced.outs, k) ? produced.outs[k] : undefined, v] as [string, Tensor | undefined, CaseTensor]),
    ...Object.entries(c.grads).map(([k, v]) => [`grads.${k}`, produced.grads[k], v] as [string, Tensor | undefined, CaseTensor]),
  ];
  let worstRatio = 0;
  let maxAbs = 0;
  const problems: string[] = [];
  try {
    for (const [what, got, want] of checks) {
      if (!got) { problems.push(`${what}: the engine produced no such tensor`); continue; }
      if (got.shape.join() !== want.shape.join()) { problems.push(`${what}: shape [${got.shape}] vs expected [${want.shape}]`); continue; }
      const exact = want.dtype === 'int64';
      const cmp = compare(await got.read(), want.data, exact ? { atol: 0, rtol: 0 } : tol);
      worstRatio = Math.max(worstRatio, cmp.worstRatio);
      maxAbs = Math.max(maxAbs, cmp.maxAbs);
      if (!cmp.pass) problems.push(`${what}[${cmp.worstIndex}] = ${cmp.got}, expected ${cmp.want}`);
    }
  } finally {
    for (const t of [...Object.values(produced.outs), ...Object.values(produced.grads)]) t.dispose();
  }
  return { ...base, status: problems.length ? 'fail' : 'pass', worstRatio, maxAbs, detail: problems.join('; ') };
}

export interface CaseRunOptions { tolerance?: Partial<Tolerance> }

/** Validates every file first (so a malformed file fails before any work), then runs all cases. */
export async function runCaseFiles(device: Device, files: string[], opts: CaseRunOptions = {}): Promise<CaseResult[]> {
  const tol = { ...DEFAULT_TOLERANCE, ...opts.tolerance };
  const loaded = files.map((f) => [f, loadCaseFile(f)] as const);
  const results: CaseResult[] = [];
  for (const [file, cases] of loaded) {
    for (const c of cases) {
      try {
        results.push(await runCase(device, file, c, tol));
      } catch (e) {
        results.push({ file, case: c.name, op: c.op, status: 'fail', worstRatio: Infinity, maxAbs: Infinity, detail: (e as Error).message });
      }
    }
  }
  return results;
}
