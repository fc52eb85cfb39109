/**
 * Activation layers chosen by name, the smooth-adversarial-training switch. Spec strings: 'relu', 'silu',
 * 'gelu', 'gelu_tanh', 'mish', 'tanh', 'sigmoid', 'softplus', 'softplus:BETA' or 'softplus:BETA:THRESHOLD' (PyTorch's
 * threshold, default 20), 'elu' or 'elu:ALPHA',
 * 'relu_smoothgrad' or 'relu_smoothgrad:ALPHA', and two with a learnable scalar: 'psoftplus' (parameter
 * `alpha`, initialised to 10) and 'smoothrelu' (parameter `w`, a = w^2 keeps a > 0; w starts at 20, a = 400, as SAT).
 */
import { Module } from '../module.js';
import { activation, ACTIVATION_NAMES, type ActivationName } from '../../engine/ops/activation.js';
import { full } from '../../engine/create.js';
import { square } from '../../engine/ops/index.js';
import { getDefaultDevice, type Device } from '../../engine/device.js';
import type { Tensor } from '../../engine/tensor.js';

/** `arg`: softplus's beta, elu's and relu_smoothgrad's alpha; `threshold`: softplus's threshold. */
export interface ActivationSpec { name: ActivationName; arg?: number; threshold?: number }

export function parseActivation(spec: string): ActivationSpec {
  const [name, arg, threshold, extra] = spec.split(':');
  if (extra !== undefined || !(ACTIVATION_NAMES as readonly string[]).includes(name!)) {
    throw new RangeError(`activation: '${spec}' is not one of ${ACTIVATION_NAMES.join(', ')} (optionally NAME:NUMBER for softplus, elu, relu_smoothgrad; softplus:BETA:THRESHOLD)`);
  }
  if (arg === undefined) return { name: name as ActivationName };
  const v = Number(arg);
  if (!['softplus', 'elu', 'relu_smoothgrad'].includes(name!) || arg === '' || !Number.isFinite(v)) throw new RangeError(`activation: '${spec}': only softplus:BETA, elu:ALPHA and relu_smoothgrad:ALPHA take a number`);
  if (threshold === undefined) return { name: name as ActivationName, arg: v };
  const t = Number(threshold);
  if (name !== 'softplus' || threshold === '' || !Number.isFinite(t)) throw new RangeError(`activation: '${spec}': only softplus takes a threshold (softplus:BETA:THRESHOLD, a finite number)`);
  return { name: 'softplus', arg: v, threshold: t };
}

export class Activation extends Module {
  /** Replaceable only between parameter-free specs (swapActivations), for SAT's backward-only smoothing. */
  spec: ActivationSpec;

  constructor(spec: string | ActivationSpec, opts: { device?: Device } = {}) {
    super();
    this.spec = typeof spec === 'string' ? parseActivation(spec) : spec;
    const device = opts.device ?? getDefaultDevice();
    if (this.spec.name === 'psoftplus') this.registerParameter('alpha', full([], 10, { device }));
    if (this.spec.name === 'smoothrelu') this.registerParameter('w', full([], 20, { device }));
  }

  forward(x: Tensor): Tensor {
    const { name, arg, threshold } = this.spec;
    switch (name) {
      case 'psoftplus': return activation(name, x, { alpha: this.own('alpha') });
      case 'smoothrelu': return activation(name, x, { a: square(this.own('w')) });
      case 'softplus': return activation(name, x, { ...(arg === undefined ? {} : { beta: arg }), ...(threshold === undefined ? {} : { threshold }) });
      case 'elu': case 'relu_smoothgrad': return activation(name, x, arg === undefined ? {} : { alpha: arg });
      default: return activation(name, x);
    }
  }
}

/**
 * Replaces every `from` activation of `model` by `to` (both parameter-free, e.g. relu -> relu_smoothgrad for
 * SAT's backward-only smoothing in chosen passes); returns the function that puts them back.
 */
export function swapActivations(model: Module, from: ActivationSpec['name'], to: ActivationSpec): () => void {
  const learnable = (n: string) => n === 'psoftplus' || n === 'smoothrelu';
  if (learnable(from) || learnable(to.name)) throw new RangeError(`swapActivations: '${learnable(from) ? from : to.name}' has a learnable parameter and cannot be swapped in or out`);
  const swapped: [Activation, ActivationSpec][] = [];
  for (const [, m] of model.namedModules()) {
    if (m instanceof Activation && m.spec.name === from) { swapped.push([m, m.spec]); m.spec = to; }
  }
  return () => { for (const [m, s] of swapped) m.spec = s; };
}
