/**
 * Activations: values and derivatives against high-precision truths, at |x| up to 1e4 and in the tails where
 * naive float32 formulas cancel, underflow early or overflow (exp/tanh past |x| ~ 88), plus PyTorch's
 * conventions, the learnable parameters' gradients, the by-name dispatcher and argument errors.
 */
import { describe, expect, it } from 'vitest';
import { useDevice, expectClose } from '../../helpers.js';
import { tensor, full } from '../../../engine/create.js';
import { scope } from '../../../engine/scope.js';
import * as o from '../../../engine/ops/index.js';
import type { Tensor } from '../../../engine/tensor.js';

const dev = useDevice();

// Truths computed with mpmath at 50 digits (f and mpmath.diff(f)), rounded to float64; the generator:
//   from mpmath import mp, mpf, exp, log, tanh, erfc, sqrt, pi, diff; mp.dps = 50
//   sig = lambda x: 1/(1+exp(-x)); sp = lambda x: log(1+exp(x))
//   gelu = lambda x: x*erfc(-x/sqrt(2))/2; gelu_tanh = lambda x: x/2*(1+tanh(sqrt(2/pi)*(x+mpf('0.044715')*x**3)))
//   silu = x*sig(x); elu = x if x > 0 else exp(x)-1; mish = x*tanh(sp(x)); psoftplus = log(1+exp(a*x))/a;
//   smoothrelu = x - log(1+a*x)/a; values below 1e-300 written as 0.
const POINTS = [-10000.0, -1000.0, -100.0, -80.0, -20.0, -5.0, -1.0, -0.0001, 0.0001, 1.0, 5.0, 20.0, 80.0, 100.0, 1000.0, 10000.0];
const TRUTH: Record<string, { y: number[]; dy: number[] }> = {
  softplus: { y: [0.0, 0.0, 3.720076068853569e-44, 1.8048513878454153e-35, 2.061153620314381e-09, 0.006715348489118068, 0.3132616875182228, 0.6930971818099453, 0.6931971818099453, 1.3132616875182228, 5.006715348489118, 20.000000002061153, 80.0, 100.0, 1000.0, 10000.0], dy: [0.0, 0.0, 3.720075976020836e-44, 1.8048513878454153e-35, 2.0611536181902037e-09, 0.0066928509242848554, 0.2689414213699951, 0.4999750000000208, 0.5000249999999792, 0.7310585786300049, 0.9933071490757152, 0.9999999979388464, 1.0, 1.0, 1.0, 1.0] },
  silu: { y: [0.0, 0.0, -3.720075976020836e-42, -1.4438811102763322e-33, -4.122307236380407e-08, -0.03346425462142428, -0.2689414213699951, -4.9997500000002084e-05, 5.0002499999997914e-05, 0.7310585786300049, 4.966535745378576, 19.99999995877693, 80.0, 100.0, 1000.0, 10000.0], dy: [0.0, 0.0, -3.682875216260628e-42, -1.425832596397878e-33, -3.9161918660646786e-08, -0.02654743242966592, 0.07232948812851327, 0.4999500000000833, 0.5000499999999166, 0.9276705118714867, 1.026547432429666, 1.0000000391619186, 1.0, 1.0, 1.0, 1.0] },
  gelu: { y: [0.0, 0.0, 0.0, 0.0, -5.507248237212468e-88, -1.4332578593959695e-06, -0.15865525393145705, -4.9996010577202634e-05, 5.0003989422797364e-05, 0.8413447460685429, 4.999998566742141, 20.0, 80.0, 100.0, 1000.0, 10000.0], dy: [0.0, 0.0, 0.0, 0.0, -1.1014360483133464e-86, -7.146946001792295e-06, -0.0833154705876863, 0.4999202115441857, 0.5000797884558144, 1.0833154705876864, 1.000007146946002, 1.0, 1.0, 1.0, 1.0, 1.0] },
  gelu_tanh: { y: [0.0, 0.0, 0.0, 0.0, 0.0, -2.291796196629506e-07, -0.1588080093917233, -4.999601057720267e-05, 5.000398942279733e-05, 0.8411919906082767, 4.999999770820381, 20.0, 80.0, 100.0, 1000.0, 10000.0], dy: [0.0, 0.0, 0.0, 0.0, 0.0, -1.5463619875325946e-06, -0.08296408384578255, 0.499920211544187, 0.500079788455813, 1.0829640838457826, 1.0000015463619876, 1.0, 1.0, 1.0, 1.0, 1.0] },
  elu: { y: [-1.0, -1.0, -1.0, -1.0, -0.9999999979388464, -0.9932620530009145, -0.6321205588285577, -9.99950001666625e-05, 0.0001, 1.0, 5.0, 20.0, 80.0, 100.0, 1000.0, 10000.0], dy: [0.0, 0.0, 3.720075976020836e-44, 1.8048513878454153e-35, 2.061153622438558e-09, 0.006737946999085467, 0.36787944117144233, 0.9999000049998333, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] },
  mish: { y: [0.0, 0.0, -3.720076068853569e-42, -1.4438811102763322e-33, -4.122307240628761e-08, -0.033576237730161704, -0.3034014613741089, -5.9996799984004584e-05, 6.0003199983995416e-05, 0.8650983882673103, 4.999552077529406, 20.0, 80.0, 100.0, 1000.0, 10000.0], dy: [0.0, 0.0, -3.682875216260628e-42, -1.425832596397878e-33, -3.916191874348969e-08, -0.026747498019901932, 0.05921675587739495, 0.5999359995201835, 0.6000639995198165, 1.0490362200997922, 1.0008002248320826, 1.0000000000000002, 1.0, 1.0, 1.0, 1.0] },
  tanh: { y: [-1.0, -1.0, -1.0, -1.0, -1.0, -0.9999092042625951, -0.7615941559557649, -9.999999966666667e-05, 9.999999966666667e-05, 0.7615941559557649, 0.9999092042625951, 1.0, 1.0, 1.0, 1.0, 1.0], dy: [0.0, 0.0, 0.0, 0.0, 1.6993417021166355e-17, 0.0001815832309438067, 0.4199743416140261, 0.9999999900000001, 0.9999999900000001, 0.4199743416140261, 0.0001815832309438067, 1.6993417021166355e-17, 0.0, 0.0, 0.0, 0.0] },
  sigmoid: { y: [0.0, 0.0, 3.720075976020836e-44, 1.8048513878454153e-35, 2.0611536181902037e-09, 0.0066928509242848554, 0.2689414213699951, 0.4999750000000208, 0.5000249999999792, 0.7310585786300049, 0.9933071490757152, 0.9999999979388464, 1.0, 1.0, 1.0, 1.0], dy: [0.0, 0.0, 3.720075976020836e-44, 1.8048513878454153e-35, 2.061153613941849e-09, 0.006648056670790155, 0.19661193324148185, 0.249999999375, 0.249999999375, 0.19661193324148185, 0.006648056670790155, 2.061153613941849e-09, 1.8048513878454153e-35, 3.720075976020836e-44, 0.0, 0.0] },
};
// [x, f, df/dx, df/dalpha]
const PSOFTPLUS: Record<string, number[][]> = {
  '10': [[-100.0, 0.0, 0.0, 0.0], [-5.0, 1.9287498479639176e-23, 1.9287498479639178e-22, -9.83662422461598e-23], [-0.3, 0.004858735157374206, 0.04742587317756678, -0.001908649711064424], [-0.001, 0.06881596805078623, 0.497500020833125, -0.006931346807161936], [0.001, 0.06981596805078623, 0.5024999791668749, -0.006931346807161936], [0.3, 0.3048587351573742, 0.9525741268224333, -0.001908649711064424], [5.0, 5.0, 1.0, -9.83662422461598e-23], [100.0, 100.0, 1.0, 0.0]],
  '0.5': [[-100.0, 3.8574996959278356e-22, 1.9287498479639178e-22, -3.934649689846392e-20], [-5.0, 0.15777946858509925, 0.07585818002124355, -1.074140737382634], [-0.3, 1.2419140955790642, 0.46257015465625045, -2.761370283951879], [-0.001, 1.38579442361989, 0.49987500000260415, -2.772588597239785], [0.001, 1.38679442361989, 0.5001249999973958, -2.772588597239785], [0.3, 1.5419140955790642, 0.5374298453437496, -2.761370283951879], [5.0, 5.157779468585099, 0.9241418199787564, -1.074140737382634], [100.0, 100.0, 1.0, -3.934649689846392e-20]],
};
// [x, f, df/dx, df/da]
const SMOOTHRELU: Record<string, number[][]> = {
  '400': [[1e-08, 1.9999946666826667e-14, 3.9999840000639995e-06, 4.999973333453333e-17], [1e-06, 1.9994668266154837e-10, 0.00039984006397441024, 4.997334532821546e-13], [0.0001, 1.9482171167967595e-06, 0.038461538461538464, 4.744841823392717e-09], [0.01, 0.005976405218914749, 0.8, 5.0589869527131275e-06], [1.0, 0.9850150964317336, 0.9975062344139651, 3.1227844955578776e-05], [100.0, 99.97350835066804, 0.9999750006249843, 5.997927957599121e-05]],
  '2': [[1e-08, 9.999999866666669e-17, 1.9999999600000007e-08, 4.99999986666667e-17], [1e-06, 9.999986666686666e-13, 1.999996000008e-06, 4.999986666696666e-13], [0.0001, 9.998666866634671e-09, 0.0001999600079984003, 4.99866696660268e-09], [0.01, 9.868635191014349e-05, 0.0196078431372549, 4.8696039731202767e-05], [1.0, 0.45069385566594516, 0.6666666666666666, 0.10798640550036076], [100.0, 97.34834754597046, 0.9950248756218906, 1.0770700081092963]],
  '0.01': [[1e-08, 4.999999999666667e-19, 9.999999999e-11, 4.9999999993333335e-17], [1e-06, 4.999999966666667e-15, 9.9999999e-09, 4.999999933333334e-13], [0.0001, 4.9999966666691665e-11, 9.99999000001e-07, 4.9999933333408336e-09], [0.01, 4.999666691664667e-07, 9.999000099990002e-05, 4.9993334083253345e-05], [1.0, 0.004966914683191715, 0.009900990099009901, 0.4934075415818186], [100.0, 30.685281944005467, 0.5, 1931.471805599453]],
};

/** Relative accuracy in float32: a few ulps of the formula plus exp's own error; 1e-37 absorbs values below float32's normal range. */
const RTOL = 1e-5;
const TINY = 1e-37;

/** f(x) and d sum f / dx for a vector of points. */
async function valueAndSlope(f: (x: Tensor) => Tensor, xs: number[]): Promise<{ y: Float32Array; dy: Float32Array }> {
  const r = scope(() => {
    const x = tensor(xs);
    const { value, grads } = o.valueAndGrad(f, [x], { seed: tensor(xs.map(() => 1)) });
    return { value, g: grads[0]! };
  });
  try {
    return { y: (await r.value.read()) as Float32Array, dy: (await r.g.read()) as Float32Array };
  } finally {
    r.value.dispose();
    r.g.dispose();
  }
}

const BY_NAME: Record<string, (x: Tensor) => Tensor> = {
  softplus: (x) => o.softplus(x),
  silu: o.silu,
  gelu: (x) => o.gelu(x),
  gelu_tanh: (x) => o.gelu(x, { approximate: 'tanh' }),
  elu: (x) => o.elu(x),
  mish: o.mish,
  tanh: o.tanh,
  sigmoid: o.sigmoid,
};

describe('activations are accurate and finite from |x| = 1e-4 to 1e4', () => {
  it.each(Object.keys(BY_NAME))('%s: value and derivative to 1e-5 relative, including the tails', async (name) => {
    const { y, dy } = await valueAndSlope(BY_NAME[name]!, POINTS);
    expect([...y, ...dy].every(Number.isFinite), `${name}: non-finite output ${JSON.stringify([...y])} / ${JSON.stringify([...dy])}`).toBe(true);
    expectClose(y, TRUTH[name]!.y, TINY, RTOL, `${name}(x) at x = ${JSON.stringify(POINTS)}`);
    expectClose(dy, TRUTH[name]!.dy, TINY, RTOL, `${name}'(x) at x = ${JSON.stringify(POINTS)}`);
  });

  it('relu: max(x, 0), derivative 1{x > 0} (0 at x = 0, as PyTorch)', async () => {
    const { y, dy } = await valueAndSlope(o.relu, [-1e4, -2, 0, 1e-30, 3, 1e4]);
    expect([...y]).toEqual([0, 0, 0, Math.fround(1e-30), 3, 1e4]);
    expect([...dy]).toEqual([0, 0, 0, 1, 1, 1]);
  });
});

describe('PyTorch conventions', () => {
  it("softplus returns x exactly where beta x > threshold, and log1p(e^{beta x})/beta with slope sigmoid(beta x) elsewhere", async () => {
    // beta 2, threshold 5: beta x = 4.8 and 5.0 take the log branch, 5.2 the linear one.
    const { y, dy } = await valueAndSlope((x) => o.softplus(x, { beta: 2, threshold: 5 }), [2.4, 2.5, 2.6]);
    expectClose(y, [Math.log1p(Math.exp(4.8)) / 2, Math.log1p(Math.exp(5)) / 2, Math.fround(2.6)], 0, 1e-6, 'softplus');
    expectClose(dy, [1 / (1 + Math.exp(-4.8)), 1 / (1 + Math.exp(-5)), 1], 0, 1e-6, "softplus'");
    expect(dy[2]).toBe(1);
  });

  it('elu: alpha (e^x - 1) for x <= 0 with derivative alpha e^x, taken at x = 0 too (elu_backward)', async () => {
    const { y, dy } = await valueAndSlope((x) => o.elu(x, { alpha: 0.5 }), [-3, -1e-6, 0, 2]);
    expectClose(y, [0.5 * Math.expm1(-3), 0.5 * Math.expm1(-1e-6), 0, 2], 0, 1e-6, 'elu');
    expectClose(dy, [0.5 * Math.exp(-3), 0.5 * Math.exp(-1e-6), 0.5, 1], 0, 1e-6, "elu'");
  });

  it('relu_smoothgrad: relu forward, g sigmoid(alpha x) backward (alpha 10 by default)', async () => {
    const xs = [-1, -0.1, 0, 0.05, 2, 100];
    const sig = (t: number) => 1 / (1 + Math.exp(-t));
    const d = await valueAndSlope((x) => o.reluSmoothgrad(x), xs);
    expect([...d.y]).toEqual(xs.map((v) => Math.fround(Math.max(v, 0))));
    expectClose(d.dy, xs.map((v) => sig(10 * Math.fround(v))), 1e-7, 1e-6, 'relu_smoothgrad backward');
    const d1 = await valueAndSlope((x) => o.reluSmoothgrad(x, { alpha: 1 }), xs);
    expectClose(d1.dy, xs.map((v) => sig(Math.fround(v))), 1e-7, 1e-6, 'relu_smoothgrad backward, alpha 1');
  });
});

/** f, df/dx and df/dp at one x for an activation with a learnable scalar p. */
async function withParam(f: (x: Tensor, p: Tensor) => Tensor, x: number, p: number): Promise<[number, number, number]> {
  const r = scope(() => {
    const xt = tensor([x]);
    const pt = full([], p);
    const { value, grads } = o.valueAndGrad(f, [xt, pt], { seed: tensor([1]) });
    expect(grads[1]!.shape).toEqual([]);
    return [value, ...grads];
  });
  const out = await Promise.all(r.map(async (t) => (await t.read())[0]!));
  r.forEach((t) => t.dispose());
  return out as [number, number, number];
}

describe('learnable parameters get gradients', () => {
  it.each(Object.keys(PSOFTPLUS))('psoftplus, alpha = %s: f, df/dx and df/dalpha (no cancellation at large |alpha x|)', async (alpha) => {
    for (const [x, f, dx, da] of PSOFTPLUS[alpha]!) {
      const got = await withParam((t, a) => o.psoftplus(t, a), x!, Number(alpha));
      expectClose(got, [f!, dx!, da!], TINY, RTOL, `psoftplus(x = ${x}, alpha = ${alpha}): [f, df/dx, df/dalpha]`);
    }
  });

  it.each(Object.keys(SMOOTHRELU))('smoothrelu, a = %s: f, df/dx and df/da, accurate for tiny a x', async (a) => {
    for (const [x, f, dx, da] of SMOOTHRELU[a]!) {
      const got = await withParam((t, p) => o.smoothrelu(t, p), x!, Number(a));
      expectClose(got, [f!, dx!, da!], TINY, RTOL, `smoothrelu(x = ${x}, a = ${a}): [f, df/dx, df/da]`);
    }
  });

  it('smoothrelu is 0 with zero gradients for x <= 0, and the parameter gradient sums over elements', async () => {
    const r = scope(() => {
      const x = tensor([-5, -1e-3, 0, 0.5, 1]);
      const a = tensor([3]);
      const { value, grads } = o.valueAndGrad((t, p) => o.sum(o.smoothrelu(t, p)), [x, a]);
      return [value, ...grads];
    });
    const [y, gx, ga] = await Promise.all(r.map((t) => t.read()));
    const f = (x: number) => x - Math.log1p(3 * x) / 3;
    const dfa = (x: number) => Math.log1p(3 * x) / 9 - x / (3 * (1 + 3 * x));
    expectClose(y!, [f(0.5) + f(1)], 0, 1e-6, 'sum smoothrelu');
    expectClose(gx!, [0, 0, 0, 1.5 / 2.5, 3 / 4], 0, 1e-6, 'd/dx');
    expectClose(ga!, [dfa(0.5) + dfa(1)], 0, 1e-5, 'd/da (shape [1] kept)');
    expect(r[2]!.shape).toEqual([1]);
  });

  it('a constant parameter given as a number is not leaked', async () => {
    const x = tensor([0.5, -1]);
    const before = dev().stats().liveTensors;
    const y = o.psoftplus(x, 4);
    expect(dev().stats().liveTensors).toBe(before + 1);
    expectClose(await y.read(), [Math.log1p(Math.exp(2)) / 4, Math.log1p(Math.exp(-4)) / 4], 0, 1e-6, 'psoftplus(x, 4)');
    y.dispose();
  });
});

describe('activation(name) swaps activations by configuration', () => {
  it('each name computes the same as its function', async () => {
    const xs = [-3, -0.5, 0.25, 2];
    const x = tensor(xs);
    const alpha = full([], 2);
    const pairs: [Parameters<typeof o.activation>[0], Tensor, Tensor][] = [
      ['relu', o.activation('relu', x), o.relu(x)],
      ['softplus', o.activation('softplus', x, { beta: 2, threshold: 1 }), o.softplus(x, { beta: 2, threshold: 1 })],
      ['psoftplus', o.activation('psoftplus', x, { alpha }), o.psoftplus(x, alpha)],
      ['silu', o.activation('silu', x), o.silu(x)],
      ['gelu', o.activation('gelu', x), o.gelu(x, { approximate: 'none' })],
      ['gelu_tanh', o.activation('gelu_tanh', x), o.gelu(x, { approximate: 'tanh' })],
      ['elu', o.activation('elu', x, { alpha: 0.3 }), o.elu(x, { alpha: 0.3 })],
      ['smoothrelu', o.activation('smoothrelu', x, { a: 5 }), o.smoothrelu(x, 5)],
      ['mish', o.activation('mish', x), o.mish(x)],
      ['tanh', o.activation('tanh', x), o.tanh(x)],
      ['sigmoid', o.activation('sigmoid', x), o.sigmoid(x)],
      ['relu_smoothgrad', o.activation('relu_smoothgrad', x), o.reluSmoothgrad(x)],
    ];
    expect(pairs.map((p) => p[0]).sort()).toEqual([...o.ACTIVATION_NAMES].sort());
    for (const [name, a, b] of pairs) expect([...(await a.read())], name).toEqual([...(await b.read())]);
    // gelu and gelu_tanh differ, so the name really selects the variant.
    expect([...(await o.activation('gelu', x).read())]).not.toEqual([...(await o.activation('gelu_tanh', x).read())]);
  });

  it('refuses unknown names and missing learnable parameters, naming what was expected', () => {
    const x = tensor([1]);
    expect(() => o.activation('swish' as never, x)).toThrow(/unknown name 'swish'.*relu, softplus, psoftplus/);
    expect(() => o.activation('psoftplus', x)).toThrow(/psoftplus.*params\.alpha.*required/);
    expect(() => o.activation('smoothrelu', x)).toThrow(/smoothrelu.*params\.a .*required/);
    expect(() => o.activation('elu', x, { alpha: tensor([1]) })).toThrow(/elu.*alpha must be a number/);
  });
});

describe('argument errors name the op, the argument and the value', () => {
  it.each([
    ['softplus beta 0', () => o.softplus(tensor([1]), { beta: 0 }), /softplus: beta must be a finite nonzero number, got 0/],
    ['softplus threshold NaN', () => o.softplus(tensor([1]), { threshold: NaN }), /softplus: threshold must be a finite number, got NaN/],
    ['gelu approximate', () => o.gelu(tensor([1]), { approximate: 'erf' as never }), /gelu: approximate must be 'none' or 'tanh', got 'erf'/],
    ['elu alpha', () => o.elu(tensor([1]), { alpha: Infinity }), /elu: alpha must be a finite number, got Infinity/],
    ['relu_smoothgrad alpha', () => o.reluSmoothgrad(tensor([1]), { alpha: -1 }), /relu_smoothgrad: alpha must be a finite positive number, got -1/],
    ['psoftplus alpha shape', () => o.psoftplus(tensor([1]), tensor([1, 2])), /psoftplus: alpha must be a one-element tensor.*\[2\]/],
    ['smoothrelu a shape', () => o.smoothrelu(tensor([1]), tensor([[1, 2]])), /smoothrelu: a must be a one-element tensor.*\[1, 2\]/],
    ['int input', () => o.sigmoid(tensor(new Int32Array([1]))), /sigmoid: input 0 must be float32, got int32/],
  ])('%s', (_, fn, msg) => {
    expect(fn).toThrow(msg);
  });
});
