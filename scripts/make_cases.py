#!/usr/bin/python3
"""Generate the reference-case files in test/cases/ from PyTorch.

Run with Debian's interpreter (the one python3-torch is installed for):

    /usr/bin/python3 scripts/make_cases.py

The file format is the one in REFERENCE_CASES.md (shared docs). In short: inputs are
random float32 values (written exactly), the reference is computed in float64
from those exact values, and gradients are d/d input of sum(gout * output).

The output is deterministic: every case draws from its own generator seeded
from the family and case name, so adding or removing a case never changes the
numbers of the others, and torch runs single-threaded so float64 reductions
are summed in the same order on every machine.
"""

import itertools
import json
import os
import zlib

import torch

torch.set_num_threads(1)
torch.manual_seed(0)  # nothing should use the global generator; pin it anyway

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "cases")
GENERATOR = "scripts/make_cases.py (PyTorch %s)" % torch.__version__


# ----------------------------------------------------------------------------
# Tensors and random data
# ----------------------------------------------------------------------------

def tensor_json(t, dtype):
    """Serialise a tensor; tolist() yields Python floats, whose repr is exact
    for float32 values and round-trips for float64 ones."""
    if dtype == "float32":
        assert t.dtype == torch.float32
    elif dtype == "float64":
        t = t.detach().to(torch.float64)
    elif dtype == "int64":
        t = t.to(torch.int64)
    else:
        raise ValueError(dtype)
    return {"shape": list(t.shape), "dtype": dtype, "data": t.reshape(-1).tolist()}


class Rng:
    """Per-case source of float32 data."""

    def __init__(self, family, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(("%s/%s" % (family, name)).encode()))

    def uniform(self, shape, lo=-1.0, hi=1.0):
        # Draw in float64 and round once, so the float32 values are spread
        # over the whole range rather than on float32-rand's coarser grid.
        u = torch.rand(shape, generator=self.g, dtype=torch.float64)
        return (lo + (hi - lo) * u).to(torch.float32)

    def away_from_zero(self, shape, lo, hi):
        """Values with lo <= |v| <= hi and a random sign."""
        mag = self.uniform(shape, lo, hi)
        sign = torch.where(self.uniform(shape) < 0, -1.0, 1.0).to(torch.float32)
        return mag * sign

    def grid(self, shape, lo, hi, step):
        """Random multiples of a power-of-two step: exact in float32, short in
        JSON, and products/sums stay exact, used where sizes would otherwise
        make the files too large."""
        k = torch.randint(int(round(lo / step)), int(round(hi / step)) + 1, shape, generator=self.g)
        return (k.to(torch.float64) * step).to(torch.float32)

    def mask(self, shape):
        return (self.uniform(shape) < 0).to(torch.float32)


# ----------------------------------------------------------------------------
# Case construction
# ----------------------------------------------------------------------------

def make_case(name, op, params, inputs, fn, rng, differentiable=None, gout=None,
              gout_for="y", notes=None):
    """Build one case.

    inputs: {name: float32 tensor}; fn takes {name: float64 tensor} and returns
    {output name: tensor}. differentiable lists the inputs that get grads
    (all of them by default; [] for comparisons and argmax). gout defaults to
    random float32 of the shape of outputs[gout_for].
    """
    if differentiable is None:
        differentiable = [k for k, v in inputs.items() if v.dtype != torch.int64]
    # int64 inputs (class labels) pass through unchanged; float32 ones are
    # widened exactly to float64.
    x64 = {k: v if v.dtype == torch.int64 else
           v.to(torch.float64).requires_grad_(k in differentiable) for k, v in inputs.items()}
    outputs = fn(x64)

    case = {"name": name, "op": op, "params": params,
            "inputs": {k: tensor_json(v, "int64" if v.dtype == torch.int64 else "float32")
                       for k, v in inputs.items()}}
    if differentiable:
        y = outputs[gout_for]
        if gout is None:
            gout = rng.uniform(tuple(y.shape))
        wrt = [x64[k] for k in differentiable]
        grads = torch.autograd.grad((gout.to(torch.float64) * y).sum(), wrt)
        case["outputs"] = {k: tensor_json(v, "float64") for k, v in outputs.items()}
        case["gout"] = tensor_json(gout, "float32")
        case["gout_for"] = gout_for
        case["grads"] = {k: tensor_json(g, "float64") for k, g in zip(differentiable, grads)}
    else:
        case["outputs"] = {k: tensor_json(v, "int64" if v.dtype == torch.int64 else "float64")
                           for k, v in outputs.items()}
        case["gout"] = None
        case["gout_for"] = None
        case["grads"] = {}
    if notes:
        case["notes"] = notes
    return case


def shape_tag(shape):
    return "x".join(str(s) for s in shape) if shape else "scalar"


# ----------------------------------------------------------------------------
# matmul
# ----------------------------------------------------------------------------

def matmul_cases():
    fam = "matmul"
    cases = []

    def one(M, K, N, ta, tb, batch=(), b_batched=True, data="random"):
        bt = list(batch)
        name = "matmul_%s%dx%dx%d%s%s%s" % (
            ("b" + shape_tag(bt) + "_") if bt else "", M, K, N,
            "_ta" if ta else "", "_tb" if tb else "",
            "_bshared" if bt and not b_batched else "")
        if data != "random":
            name += "_int"
        rng = Rng(fam, name)
        a_shape = tuple(bt) + ((K, M) if ta else (M, K))
        b_shape = (tuple(bt) if b_batched else ()) + ((N, K) if tb else (K, N))
        if data == "random":
            a, b = rng.uniform(a_shape), rng.uniform(b_shape)
            gout, notes = None, None
        else:
            a, b = rng.grid(a_shape, -2, 2, 1.0), rng.grid(b_shape, -2, 2, 1.0)
            gout = rng.grid(tuple(bt) + (M, N), -2, 2, 1.0)
            notes = ("inputs and gout are random integers in [-2, 2] (keeps the file small); "
                     "results are exact in float32 whatever the summation order")
        if bt and not b_batched:
            notes = "b is 2-D and shared by every matrix of a's batch"

        def f(t):
            A = t["a"].transpose(-1, -2) if ta else t["a"]
            B = t["b"].transpose(-1, -2) if tb else t["b"]
            return {"y": A @ B}

        params = {"transpose_a": ta, "transpose_b": tb, "M": M, "K": K, "N": N, "batch": bt}
        cases.append(make_case(name, "matmul", params, {"a": a, "b": b}, f, rng,
                               gout=gout, notes=notes))

    combos = [(False, False), (True, False), (False, True), (True, True)]
    # Small shapes at full float32 precision, every transpose combination.
    for M, K, N in [(5, 7, 3), (1, 1, 1), (4, 3, 6)]:
        for ta, tb in combos:
            one(M, K, N, ta, tb)
    # Larger shapes (odd sizes that straddle tile edges) hold small integers:
    # at full precision 64x64x64 alone would be ~500 KB. Every index is still
    # exercised; precision is covered by the small cases above.
    for ta, tb in combos:
        one(33, 17, 9, ta, tb, data="int")
    # With M=1 transposing a changes only its shape, not its memory layout,
    # so two combinations cover the distinct layouts of b.
    one(1, 40, 65, False, False, data="int")
    one(1, 40, 65, True, True, data="int")
    one(64, 64, 64, False, False, data="int")
    # Batched: same batch on both sides, then b shared across a's batch.
    for ta, tb in combos:
        one(5, 7, 4, ta, tb, batch=(3,))
    one(5, 7, 4, False, False, batch=(3,), b_batched=False)
    one(5, 7, 4, False, True, batch=(3,), b_batched=False)
    return cases


# ----------------------------------------------------------------------------
# elementwise
# ----------------------------------------------------------------------------

def no_ties(rng, draw_a, draw_b, gap=1e-3, tries=100):
    """Redraw until every broadcast pair differs by more than gap."""
    for _ in range(tries):
        a, b = draw_a(), draw_b()
        if torch.all((a.double() - b.double()).abs() > gap):
            return a, b
    raise RuntimeError("could not draw tie-free data")


def elementwise_cases():
    fam = "elementwise"
    cases = []
    shapes = [(7,), (3, 5), (2, 3, 4)]

    # Domains keep every op smooth at the drawn points: strictly positive
    # where the op needs it, away from the kink at 0 for abs/sign.
    unary = {
        "neg": (torch.neg, lambda r, s: r.uniform(s, -2, 2)),
        "exp": (torch.exp, lambda r, s: r.uniform(s, -2, 2)),
        "log": (torch.log, lambda r, s: r.uniform(s, 0.1, 3)),
        "sqrt": (torch.sqrt, lambda r, s: r.uniform(s, 0.1, 3)),
        "abs": (torch.abs, lambda r, s: r.away_from_zero(s, 0.05, 2)),
        "sign": (torch.sign, lambda r, s: r.away_from_zero(s, 0.05, 2)),
        "square": (torch.square, lambda r, s: r.uniform(s, -2, 2)),
        "reciprocal": (torch.reciprocal, lambda r, s: r.uniform(s, 0.1, 3)),
    }
    for op, (fn, draw) in unary.items():
        for s in shapes:
            name = "%s_%s" % (op, shape_tag(s))
            rng = Rng(fam, name)
            cases.append(make_case(name, op, {}, {"x": draw(rng, s)},
                                   lambda t, fn=fn: {"y": fn(t["x"])}, rng))

    for i, (scale, shift, s) in enumerate([(2.5, -0.75, (7,)), (-0.5, 1.25, (3, 5)),
                                           (3.0, 0.0, (2, 3, 4))]):
        name = "scale_shift_%d_%s" % (i, shape_tag(s))
        rng = Rng(fam, name)
        cases.append(make_case(name, "scale_shift", {"scale": scale, "shift": shift},
                               {"x": rng.uniform(s, -2, 2)},
                               lambda t, a=scale, b=shift: {"y": t["x"] * a + b}, rng))

    # Non-integer exponents only on positive bases (real-valued, finite grads).
    for p, lo, s in [(2.0, -2, (3, 5)), (0.5, 0.1, (3, 5)), (3.0, -2, (2, 3, 4)),
                     (-1.5, 0.1, (7,)), (1.0, -2, (7,))]:
        name = "pow_scalar_%s_%s" % (p, shape_tag(s))
        rng = Rng(fam, name)
        cases.append(make_case(name, "pow_scalar", {"exponent": p},
                               {"x": rng.uniform(s, lo, 3)},
                               lambda t, p=p: {"y": torch.pow(t["x"], p)}, rng))

    for lo, hi, s in [(-0.5, 0.5, (3, 5)), (0.0, None, (2, 3, 4)), (None, 1.0, (7,)),
                      (-1.25, 0.75, (2, 3, 4))]:
        name = "clamp_%s_%s_%s" % (lo, hi, shape_tag(s))
        rng = Rng(fam, name)
        x = rng.uniform(s, -2, 2)
        # Nudge values off the bounds so the gradient (1 inside, 0 outside)
        # is unambiguous whichever side the engine assigns the boundary to.
        for bound in (lo, hi):
            if bound is not None:
                near = (x - bound).abs() <= 2e-3
                x = torch.where(near, x + torch.tensor(0.01, dtype=torch.float32), x)
        cases.append(make_case(name, "clamp", {"min": lo, "max": hi}, {"x": x},
                               lambda t, lo=lo, hi=hi: {"y": torch.clamp(t["x"], lo, hi)}, rng))

    bshapes = [((5, 6), (5, 6)), ((3, 4), (4,)), ((2, 1, 5), (3, 1)), ((4, 1), (1, 6)),
               ((), (2, 3))]
    binary = {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
        "pow": torch.pow, "minimum": torch.minimum, "maximum": torch.maximum,
    }
    for op, fn in binary.items():
        for sa, sb in bshapes:
            name = "%s_%s_%s" % (op, shape_tag(sa), shape_tag(sb))
            rng = Rng(fam, name)
            if op == "div":
                a, b = rng.uniform(sa, -2, 2), rng.away_from_zero(sb, 0.3, 2)
            elif op == "pow":
                # Positive base keeps a**b real and d/db = a**b * log(a) finite.
                a, b = rng.uniform(sa, 0.2, 3), rng.uniform(sb, -2, 2)
            elif op in ("minimum", "maximum"):
                # Ties would make the gradient split convention-dependent.
                a, b = no_ties(rng, lambda: rng.uniform(sa, -2, 2), lambda: rng.uniform(sb, -2, 2))
            else:
                a, b = rng.uniform(sa, -2, 2), rng.uniform(sb, -2, 2)
            cases.append(make_case(name, op, {}, {"a": a, "b": b},
                                   lambda t, fn=fn: {"y": fn(t["a"], t["b"])}, rng))

    compare = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le,
               "gt": torch.gt, "ge": torch.ge}
    for op, fn in compare.items():
        for sa, sb in [((5, 6), (5, 6)), ((3, 4), (4,)), ((4, 1), (1, 6)), ((), (2, 3))]:
            name = "%s_%s_%s" % (op, shape_tag(sa), shape_tag(sb))
            rng = Rng(fam, name)
            # One decimal from a small range, so many pairs are exactly equal
            # and the <=, >=, == boundaries are exercised; redraw until the
            # case holds both equal and unequal pairs.
            def draw(s):
                return torch.round(rng.uniform(s, -0.35, 0.35) * 10).to(torch.float32) / 10
            for _ in range(100):
                a, b = draw(sa), draw(sb)
                if 0 < int(torch.eq(a, b).sum()) < torch.broadcast_shapes(sa, sb).numel():
                    break
            else:
                raise RuntimeError("could not draw data with some ties")
            cases.append(make_case(
                name, op, {}, {"a": a, "b": b},
                lambda t, fn=fn: {"y": fn(t["a"], t["b"]).to(torch.float64)}, rng,
                differentiable=[],
                notes="y is a 0.0/1.0 mask written as float64; robustgpu returns float32 masks"))

    for sc, sa, sb in [((3, 1), (3, 4), (4,)), ((2, 3), (2, 3), ()), ((4,), (2, 1), (2, 4))]:
        name = "where_%s_%s_%s" % (shape_tag(sc), shape_tag(sa), shape_tag(sb))
        rng = Rng(fam, name)
        cond = rng.mask(sc)
        cases.append(make_case(
            name, "where", {}, {"cond": cond, "a": rng.uniform(sa, -2, 2), "b": rng.uniform(sb, -2, 2)},
            lambda t: {"y": torch.where(t["cond"] != 0, t["a"], t["b"])}, rng,
            differentiable=["a", "b"], notes="cond is a float32 0/1 mask; it has no gradient"))
    return cases


# ----------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------

def reduction_cases():
    fam = "reductions"
    cases = []
    configs = [
        ((7,), [], False), ((7,), [0], True),
        ((3, 5), [1], False), ((3, 5), [1], True), ((3, 5), [0], False), ((3, 5), [], False),
        ((3, 5), [], True),
        ((2, 3, 4), [0, 2], False), ((2, 3, 4), [0, 2], True),
        ((2, 3, 4), [1], False), ((2, 3, 4), [1], True),
        ((2, 3, 4), [2], False), ((2, 3, 4), [2], True),
        ((4, 1, 6), [1], False),
    ]
    long_row = ((2, 1000), [1], False)

    def dims_of(x, dims):
        # An empty list means every dim; spelled out so torch's own reading
        # of dim=[] never matters.
        return tuple(dims) if dims else tuple(range(x.dim()))

    ops = {
        "sum": lambda x, d, k: torch.sum(x, dim=d, keepdim=k),
        "mean": lambda x, d, k: torch.mean(x, dim=d, keepdim=k),
        "max": lambda x, d, k: torch.amax(x, dim=d, keepdim=k),
        "min": lambda x, d, k: torch.amin(x, dim=d, keepdim=k),
    }

    def add(op, shape, dims, keepdim, fn, extra=None, tag="", grid=False):
        params = {"dims": list(dims), "keepdim": keepdim}
        params.update(extra or {})
        name = "%s%s_%s_d%s%s" % (op, tag, shape_tag(shape), "".join(map(str, dims)) or "all",
                                  "_keep" if keepdim else "")
        rng = Rng(fam, name)
        if grid:
            # The long rows would be ~80 KB each at full precision. Ties do
            # not matter here: only sum/mean/var use them.
            x = rng.grid(shape, -2, 2, 1.0 / 64)
            gout_shape = tuple(fn(x, dims_of(x, dims), keepdim).shape)
            gout = rng.grid(gout_shape, -1, 1, 1.0 / 16)
            notes = "x on multiples of 1/64 and gout on multiples of 1/16 (keeps the file small)"
        else:
            # Continuous random values are tie-free in practice; check anyway,
            # since amax/amin split the gradient among ties.
            x = rng.uniform(shape, -2, 2)
            assert x.reshape(-1).unique().numel() == x.numel()
            gout, notes = None, None
        cases.append(make_case(name, op, params, {"x": x},
                               lambda t: {"y": fn(t["x"], dims_of(t["x"], dims), keepdim)}, rng,
                               gout=gout, notes=notes))

    for op, fn in ops.items():
        for shape, dims, keepdim in configs:
            add(op, shape, dims, keepdim, fn)
    for op in ("sum", "mean"):
        add(op, *long_row, ops[op], grid=True)

    for correction in (1, 0):
        fn = lambda x, d, k, c=correction: torch.var(x, dim=d, correction=c, keepdim=k)
        if correction == 1:
            add("var", *long_row, fn, {"correction": correction}, tag="_c1", grid=True)
        for shape, dims, keepdim in configs:
            n = 1
            for d in (dims or range(len(shape))):
                n *= shape[d]
            if n - correction <= 0:
                continue  # the unbiased variance of one element is undefined
            add("var", shape, dims, keepdim, fn, {"correction": correction}, tag="_c%d" % correction)

    for shape, dim, keepdim in [((7,), 0, False), ((3, 5), 1, False), ((3, 5), 0, True),
                                ((2, 3, 4), 2, False), ((2, 3, 4), 1, True), ((2, 3, 4), 0, False)]:
        name = "argmax_%s_d%d%s" % (shape_tag(shape), dim, "_keep" if keepdim else "")
        rng = Rng(fam, name)
        x = rng.uniform(shape, -2, 2)
        assert x.reshape(-1).unique().numel() == x.numel()
        cases.append(make_case(name, "argmax", {"dim": dim, "keepdim": keepdim}, {"x": x},
                               lambda t, d=dim, k=keepdim: {"y": torch.argmax(t["x"], dim=d, keepdim=k)},
                               rng, differentiable=[], notes="y holds int64 indices"))
    return cases


# ----------------------------------------------------------------------------
# movement
# ----------------------------------------------------------------------------

def movement_cases():
    fam = "movement"
    cases = []

    def add(name, op, params, shapes, fn):
        rng = Rng(fam, name)
        inputs = {k: rng.uniform(s, -2, 2) for k, s in shapes.items()}
        cases.append(make_case(name, op, params, inputs, fn, rng))

    for src, dst in [((2, 3, 4), (6, 4)), ((4, 6), (2, 2, 6)), ((12,), (3, 4)), ((3, 4), (12,)),
                     ((2, 3, 4), (4, 3, 2)), ((1,), ())]:
        add("reshape_%s_to_%s" % (shape_tag(src), shape_tag(dst)), "reshape",
            {"shape": list(dst)}, {"x": src}, lambda t, d=dst: {"y": t["x"].reshape(d)})

    for src, dims in [((3, 5), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (1, 2, 0)),
                      ((2, 3, 4), (0, 2, 1)), ((2, 3, 4, 5), (0, 2, 3, 1))]:
        add("permute_%s_%s" % (shape_tag(src), "".join(map(str, dims))), "permute",
            {"dims": list(dims)}, {"x": src}, lambda t, d=dims: {"y": t["x"].permute(*d)})

    for src, dim, start, end in [((5, 6), 0, 1, 4), ((5, 6), 1, 2, 6), ((2, 3, 4), 2, 0, 1),
                                 ((2, 3, 4), 1, 1, 3), ((9,), 0, 3, 8), ((2, 3, 4), 0, 0, 2)]:
        add("slice_%s_d%d_%d_%d" % (shape_tag(src), dim, start, end), "slice",
            {"dim": dim, "start": start, "end": end}, {"x": src},
            lambda t, d=dim, s=start, e=end: {"y": t["x"].narrow(d, s, e - s)})

    for shapes, dim in [(((2, 3), (1, 3), (4, 3)), 0), (((2, 3), (2, 1), (2, 5)), 1),
                        (((2, 3, 4), (2, 3, 1), (2, 3, 2)), 2), (((2, 2, 3), (2, 1, 3), (2, 3, 3)), 1),
                        (((3,), (5,), (2,)), 0)]:
        name = "concat_d%d_%s" % (dim, "_".join(shape_tag(s) for s in shapes))
        add(name, "concat", {"dim": dim}, {"x%d" % i: s for i, s in enumerate(shapes)},
            lambda t, d=dim: {"y": torch.cat([t["x0"], t["x1"], t["x2"]], dim=d)})

    for src, dst in [((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((), (2, 2)), ((1, 5), (4, 5)),
                     ((2, 1, 3), (2, 4, 3))]:
        add("broadcast_to_%s_to_%s" % (shape_tag(src), shape_tag(dst)), "broadcast_to",
            {"shape": list(dst)}, {"x": src}, lambda t, d=dst: {"y": torch.broadcast_to(t["x"], d)})

    for src, d0, d1 in [((3, 5), 0, 1), ((2, 3, 4), 0, 2), ((2, 3, 4), 1, 2), ((2, 3, 4, 5), 1, 3)]:
        add("transpose_%s_%d_%d" % (shape_tag(src), d0, d1), "transpose",
            {"dim0": d0, "dim1": d1}, {"x": src},
            lambda t, a=d0, b=d1: {"y": t["x"].transpose(a, b)})
    return cases


# ----------------------------------------------------------------------------
# composite: 2-layer MLP
# ----------------------------------------------------------------------------

def mlp2_cases():
    fam = "composite"
    cases = []

    def forward(t):
        h = t["x"] @ t["w1"].T + t["b1"]
        out = torch.relu(h) @ t["w2"].T + t["b2"]
        return {"loss": torch.mean((out - t["t"]) ** 2)}

    for seed in (1, 2):
        name = "mlp2_seed%d" % seed
        rng = Rng(fam, name)
        # Redraw until no pre-activation sits within 1e-3 of the ReLU kink,
        # where float32 rounding could flip which side it lands on.
        for _ in range(100):
            inputs = {"x": rng.uniform((8, 5)), "w1": rng.uniform((6, 5), -0.5, 0.5),
                      "b1": rng.uniform((6,), -0.5, 0.5), "w2": rng.uniform((3, 6), -0.5, 0.5),
                      "b2": rng.uniform((3,), -0.5, 0.5), "t": rng.uniform((8, 3))}
            pre = inputs["x"].double() @ inputs["w1"].double().T + inputs["b1"].double()
            if torch.all(pre.abs() > 1e-3):
                break
        else:
            raise RuntimeError("could not draw kink-free MLP data")
        cases.append(make_case(
            name, "mlp2", {}, inputs, forward, rng,
            differentiable=["x", "w1", "b1", "w2", "b2"],
            gout=torch.tensor(1.0, dtype=torch.float32), gout_for="loss",
            notes="loss = mean((relu(x @ w1.T + b1) @ w2.T + b2 - t)**2); t has no gradient"))
    return cases


# ----------------------------------------------------------------------------
# conv2d
# ----------------------------------------------------------------------------

def conv2d_cases():
    fam = "conv2d"
    cases = []
    # (tag, N, C, O, H, W, kernel, stride, padding, dilation, groups, bias)
    configs = [
        ("k3_s1_p1", 2, 3, 4, 5, 5, 3, 1, 1, 1, 1, True),
        ("k3_s2_p1", 2, 2, 3, 7, 7, 3, 2, 1, 1, 1, True),
        ("k3_s1_p0", 1, 3, 4, 6, 6, 3, 1, 0, 1, 1, True),
        ("k3_s1_p2", 1, 2, 3, 5, 5, 3, 1, 2, 1, 1, True),
        ("k3_d2_p2", 1, 3, 4, 7, 7, 3, 1, 2, 2, 1, True),
        ("k3_d2_s2_p1", 1, 2, 3, 8, 8, 3, 2, 1, 2, 1, True),
        ("k3_g2", 1, 4, 6, 5, 5, 3, 1, 1, 1, 2, True),
        ("k3_depthwise", 2, 4, 4, 5, 5, 3, 1, 1, 1, 4, True),
        ("k3_depthwise_mult2", 1, 3, 6, 5, 5, 3, 1, 1, 1, 3, True),
        ("k1", 2, 5, 6, 4, 4, 1, 1, 0, 1, 1, True),
        ("k1_s2", 1, 3, 4, 5, 5, 1, 2, 0, 1, 1, False),
        ("k3_nobias", 2, 2, 3, 5, 5, 3, 1, 1, 1, 1, False),
        ("k3_batch1", 1, 3, 4, 6, 6, 3, 1, 1, 1, 1, True),
        ("k3_odd7x9", 1, 3, 4, 7, 9, 3, 1, 1, 1, 1, True),
        ("k3_s2_odd7x9", 1, 3, 5, 7, 9, 3, 2, 1, 1, 1, True),
        ("k3_c5_o3", 1, 5, 3, 5, 5, 3, 1, 1, 1, 1, True),
        ("k3_c6_o8_g2_s2", 1, 6, 8, 6, 6, 3, 2, 1, 1, 2, True),
        ("k5_p2_4x4", 1, 3, 4, 4, 4, 5, 1, 2, 1, 1, True),
        ("k2_s2_p0", 1, 3, 4, 6, 6, 2, 2, 0, 1, 1, True),
    ]
    for tag, N, C, O, H, W, k, s, p, d, g, bias in configs:
        name = "conv2d_%s_n%dc%do%d_%dx%d" % (tag, N, C, O, H, W)
        rng = Rng(fam, name)
        bound = 1.0 / (C // g * k * k) ** 0.5
        inputs = {"x": rng.uniform((N, C, H, W), -2, 2),
                  "weight": rng.uniform((O, C // g, k, k), -bound, bound)}
        if bias:
            inputs["bias"] = rng.uniform((O,), -0.5, 0.5)
        params = {"stride": s, "padding": p, "dilation": d, "groups": g, "kernel_size": k,
                  "in_channels": C, "out_channels": O, "bias": bias}

        def f(t, s=s, p=p, d=d, g=g):
            return {"y": torch.nn.functional.conv2d(t["x"], t["weight"], t.get("bias"),
                                                   stride=s, padding=p, dilation=d, groups=g)}
        cases.append(make_case(name, "conv2d", params, inputs, f, rng))
    return cases


# ----------------------------------------------------------------------------
# batch_norm2d
# ----------------------------------------------------------------------------

def batch_norm_cases():
    fam = "batch_norm2d"
    cases = []
    F = torch.nn.functional
    momentum, eps = 0.1, 1e-5
    # (tag, N, C, H, W, training, large-mean channel)
    configs = [
        ("train", 2, 3, 4, 4, True, False),
        ("eval", 2, 3, 4, 4, False, False),
        ("train_n1", 1, 3, 3, 3, True, False),
        ("eval_n1", 1, 3, 3, 3, False, False),
        ("train_c5_odd", 3, 5, 3, 5, True, False),
        ("eval_c5_odd", 3, 5, 3, 5, False, False),
        ("train_hw1", 4, 3, 1, 1, True, False),
        ("train_largemean", 2, 3, 4, 4, True, True),
    ]
    for tag, N, C, H, W, training, large in configs:
        name = "batch_norm2d_%s_%s" % (tag, shape_tag((N, C, H, W)))
        rng = Rng(fam, name)
        x = rng.uniform((N, C, H, W), -2, 2)
        notes = None
        if large:
            # Channel 1: 1000 + noise of 1e-3 (a few dozen float32 steps).
            x[:, 1] = rng.uniform((N, H, W), 1000 - 1e-3, 1000 + 1e-3)
            notes = ("channel 1 holds 1000 + U(-1e-3, 1e-3): its variance (~3e-7) is far below eps and "
                     "its mean is not representable to the needed accuracy in float32, so x - mean must "
                     "be formed without catastrophic cancellation (e.g. shifted / two-pass statistics)")
        inputs = {"x": x, "gamma": rng.uniform((C,), 0.5, 1.5), "beta": rng.uniform((C,), -0.5, 0.5),
                  "running_mean": rng.uniform((C,), -0.5, 0.5),
                  "running_var": rng.uniform((C,), 0.5, 2.0)}
        params = {"training": training, "momentum": momentum, "eps": eps, "num_features": C}

        def f(t, training=training):
            rm = t["running_mean"].detach().clone()
            rv = t["running_var"].detach().clone()
            y = F.batch_norm(t["x"], rm, rv, t["gamma"], t["beta"], training, momentum, eps)
            out = {"y": y, "running_mean": rm, "running_var": rv}
            if training:
                xd = t["x"].detach()
                out["batch_mean"] = xd.mean(dim=(0, 2, 3))
                out["batch_var_biased"] = xd.var(dim=(0, 2, 3), unbiased=False)
                out["batch_var_unbiased"] = xd.var(dim=(0, 2, 3), unbiased=True)
            return out
        cases.append(make_case(name, "batch_norm2d", params, inputs, f, rng,
                               differentiable=["x", "gamma", "beta"], notes=notes))
    return cases


# ----------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------

def pooling_cases():
    fam = "pooling"
    cases = []
    F = torch.nn.functional

    def distinct(rng, shape):
        x = rng.uniform(shape, -2, 2)
        assert x.reshape(-1).unique().numel() == x.numel()
        return x

    # max_pool2d: (tag, shape, kernel, stride, padding, dilation, ceil_mode, ties)
    for tag, shape, k, s, p, d, ceil, ties in [
            ("k2_s2", (2, 3, 6, 6), 2, 2, 0, 1, False, False),
            ("k3_s2_p1", (2, 2, 7, 7), 3, 2, 1, 1, False, False),
            ("k3_s2_ceil", (1, 2, 6, 6), 3, 2, 0, 1, True, False),
            ("k3_s2_p1_ceil", (1, 2, 6, 6), 3, 2, 1, 1, True, False),
            ("k3_s1", (1, 2, 5, 5), 3, 1, 0, 1, False, False),
            ("k2_s3", (1, 2, 7, 7), 2, 3, 0, 1, False, False),
            ("k2_s1_d2", (1, 2, 6, 6), 2, 1, 0, 2, False, False),
            ("k3_s2_p1_d2", (1, 2, 7, 7), 3, 2, 1, 2, False, False),
            ("k2_s2_ties", (1, 2, 4, 4), 2, 2, 0, 1, False, True),
            ("k3_s1_p1_ties", (1, 2, 5, 5), 3, 1, 1, 1, False, True)]:
        name = "max_pool2d_%s_%s" % (tag, shape_tag(shape))
        rng = Rng(fam, name)
        notes = None
        if ties:
            x = rng.grid(shape, 0, 2, 1.0)
            notes = ("x holds integers 0..2, so windows hold tied maxima: the whole gradient of a window goes "
                     "to the first maximum in row-major window order (PyTorch's rule)")
        else:
            x = distinct(rng, shape)
        params = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": ceil}
        cases.append(make_case(
            name, "max_pool2d", params, {"x": x},
            lambda t, k=k, s=s, p=p, d=d, c=ceil: {"y": F.max_pool2d(t["x"], k, s, p, d, ceil_mode=c)},
            rng, notes=notes))

    ceil_note = ("ceil_mode: the last window may overhang; PyTorch's divisor with count_include_pad is the "
                 "window clipped to the padded input (H + padding), without it the window clipped to the input")
    for tag, shape, k, s, p, ceil, cip in [
            ("k2_s2", (2, 3, 6, 6), 2, 2, 0, False, True),
            ("k3_s2_p1_incpad", (2, 2, 7, 7), 3, 2, 1, False, True),
            ("k3_s2_p1_excpad", (2, 2, 7, 7), 3, 2, 1, False, False),
            ("k3_s2_p1_ceil_incpad", (1, 2, 6, 6), 3, 2, 1, True, True),
            ("k3_s2_p1_ceil_excpad", (1, 2, 6, 6), 3, 2, 1, True, False),
            ("k3_s2_ceil", (1, 2, 6, 6), 3, 2, 0, True, True),
            ("k3_s1_p1_excpad", (1, 2, 5, 5), 3, 1, 1, False, False),
            ("k2_s3", (1, 2, 7, 7), 2, 3, 0, False, True)]:
        name = "avg_pool2d_%s_%s" % (tag, shape_tag(shape))
        rng = Rng(fam, name)
        params = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil,
                  "count_include_pad": cip}
        cases.append(make_case(
            name, "avg_pool2d", params, {"x": rng.uniform(shape, -2, 2)},
            lambda t, k=k, s=s, p=p, c=ceil, i=cip: {
                "y": F.avg_pool2d(t["x"], k, s, p, ceil_mode=c, count_include_pad=i)},
            rng, notes=ceil_note if ceil else None))

    for shape, osz in [((2, 3, 7, 5), (3, 2)), ((1, 2, 6, 9), (4, 5)), ((1, 3, 5, 5), (1, 1)),
                       ((1, 2, 4, 6), (4, 3)), ((1, 2, 3, 4), (5, 6))]:
        name = "adaptive_avg_pool2d_%s_to_%s" % (shape_tag(shape), shape_tag(osz))
        rng = Rng(fam, name)
        cases.append(make_case(
            name, "adaptive_avg_pool2d", {"output_size": list(osz)}, {"x": rng.uniform(shape, -2, 2)},
            lambda t, o=osz: {"y": F.adaptive_avg_pool2d(t["x"], o)}, rng,
            notes="window i spans [floor(i*H/oh), ceil((i+1)*H/oh)) (overlapping when H is not a multiple)"))

    for shape in [(2, 3, 5, 4), (1, 5, 3, 3), (2, 4, 1, 1)]:
        name = "global_avg_pool2d_%s" % shape_tag(shape)
        rng = Rng(fam, name)
        cases.append(make_case(name, "global_avg_pool2d", {}, {"x": rng.uniform(shape, -2, 2)},
                               lambda t: {"y": t["x"].mean(dim=(2, 3))}, rng))
    return cases


# ----------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------

class _ReluSmoothGrad(torch.autograd.Function):
    """relu forward, gout * sigmoid(alpha x) backward (SAT's diagnostic op)."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return torch.relu(x)

    @staticmethod
    def backward(ctx, gout):
        (x,) = ctx.saved_tensors
        return gout * torch.sigmoid(ctx.alpha * x), None


def _softplus_exact(z):
    """log(1 + exp(z)) without torch's threshold shortcut (which is off by
    up to exp(-20)) and without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return torch.clamp(z, min=0) + torch.log1p(torch.exp(-z.abs()))


def activation_cases():
    fam = "activations"
    cases = []
    F = torch.nn.functional

    # Every input is at least 1e-3 away from 0 (the kink of relu, elu with
    # alpha != 1, smoothrelu).
    large = [-100.0, -60.25, -30.5, -20.5, -19.75, -12.5, -10.25, -9.75, -7.25, -3.5, -1.125, -0.375,
             0.0625, 0.4375, 1.25, 3.75, 7.5, 9.75, 10.25, 12.25, 19.75, 20.5, 30.25, 60.5, 100.0]
    huge = [-1000.0, -700.5, -100.25, -25.5, -0.75, 0.75, 25.5, 100.25, 700.5, 1000.0]
    sets = {
        "rand_3x5": lambda r: r.away_from_zero((3, 5), 1e-3, 4),
        "rand_2x3x4": lambda r: r.away_from_zero((2, 3, 4), 1e-3, 8),
        "large": lambda r: torch.tensor(large, dtype=torch.float32),
        "huge": lambda r: torch.tensor(huge, dtype=torch.float32),
        "small": lambda r: r.away_from_zero((12,), 1e-3, 0.05),
    }
    all_sets = ["rand_3x5", "rand_2x3x4", "large", "huge"]

    def add(op, tag, params, set_name, fn, extra=None, notes=None):
        name = "%s%s_%s" % (op, tag, set_name)
        rng = Rng(fam, name)
        inputs = {"x": sets[set_name](rng)}
        inputs.update(extra or {})
        cases.append(make_case(name, op, params, inputs, fn, rng, notes=notes))

    simple = {"relu": torch.relu, "silu": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
              "mish": F.mish}
    for op, fn in simple.items():
        for sn in all_sets:
            add(op, "", {}, sn, lambda t, fn=fn: {"y": fn(t["x"])},
                notes="mish(x) = x * tanh(softplus(x))" if op == "mish" else None)

    for beta, thr, set_names in [(1.0, 20.0, all_sets), (2.0, 20.0, ["rand_3x5", "large", "huge"]),
                                 (1.0, 5.0, ["rand_3x5", "large"])]:
        for sn in set_names:
            add("softplus", "_b%g_t%g" % (beta, thr), {"beta": beta, "threshold": thr}, sn,
                lambda t, b=beta, th=thr: {"y": F.softplus(t["x"], beta=b, threshold=th)},
                notes=("PyTorch semantics: y = x (gradient 1) where beta * x > threshold, else "
                       "log(1 + exp(beta x)) / beta"))

    for approx in ("none", "tanh"):
        for sn in all_sets:
            add("gelu", "_" + approx, {"approximate": approx}, sn,
                lambda t, a=approx: {"y": F.gelu(t["x"], approximate=a)})

    for alpha, set_names in [(1.0, all_sets), (0.5, ["rand_3x5", "large", "huge"])]:
        for sn in set_names:
            add("elu", "_a%g" % alpha, {"alpha": alpha}, sn,
                lambda t, a=alpha: {"y": F.elu(t["x"], alpha=a)})

    for alpha in (10.0, 3.0):
        for sn in ["rand_3x5", "large", "huge", "small"]:
            add("psoftplus", "_a%g" % alpha, {}, sn,
                lambda t: {"y": _softplus_exact(t["alpha"] * t["x"]) / t["alpha"]},
                extra={"alpha": torch.tensor(alpha, dtype=torch.float32)},
                notes="parametric softplus y = log(1 + exp(alpha x)) / alpha; alpha is an input with a gradient")

    for a in (400.0, 5.0):
        for sn in ["rand_3x5", "large", "huge", "small"]:
            add("smoothrelu", "_a%g" % a, {}, sn,
                lambda t: {"y": torch.where(
                    t["x"] >= 0, t["x"] - torch.log1p(t["a"] * t["x"].clamp(min=0)) / t["a"],
                    torch.zeros_like(t["x"]))},
                extra={"a": torch.tensor(a, dtype=torch.float32)},
                notes="SAT's SmoothReLU: y = x - log(1 + a x) / a for x >= 0, else 0; a is an input with a gradient")

    for alpha in (10.0, 3.0):
        for sn in ["rand_3x5", "large", "huge"]:
            add("relu_smoothgrad", "_a%g" % alpha, {"alpha": alpha}, sn,
                lambda t, a=alpha: {"y": _ReluSmoothGrad.apply(t["x"], a)},
                notes=("forward relu; the grads are not the derivative of y but the formula "
                       "gout * sigmoid(alpha * x) (SAT's smooth backward)"))
    return cases


# ----------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------

def _sorted_gap_ok(z, gap=1e-3):
    """Every row of z has all its values more than gap apart."""
    zs = z.double().sort(dim=1).values
    return bool(torch.all(zs[:, 1:] - zs[:, :-1] > gap))


def loss_cases():
    fam = "losses"
    cases = []
    F = torch.nn.functional
    one = torch.tensor(1.0, dtype=torch.float32)

    def labels(rng, N, K):
        return torch.randint(0, K, (N,), generator=rng.g)

    for tag, N, K, scale, red, ls in [
            ("", 4, 5, 3.0, "mean", 0.0), ("", 4, 5, 3.0, "sum", 0.0), ("", 4, 5, 3.0, "none", 0.0),
            ("", 4, 5, 3.0, "mean", 0.1), ("", 4, 5, 3.0, "sum", 0.1), ("", 4, 5, 3.0, "none", 0.1),
            ("_large", 4, 6, 100.0, "mean", 0.0), ("_large", 4, 6, 100.0, "mean", 0.1),
            ("_large", 4, 6, 100.0, "none", 0.0),
            ("", 1, 3, 3.0, "mean", 0.0), ("", 1, 3, 3.0, "sum", 0.1),
            ("", 8, 10, 3.0, "mean", 0.1)]:
        name = "cross_entropy%s_%s_ls%g_n%dk%d" % (tag, red, ls, N, K)
        rng = Rng(fam, name)
        inputs = {"logits": rng.uniform((N, K), -scale, scale), "labels": labels(rng, N, K)}
        cases.append(make_case(
            name, "cross_entropy", {"reduction": red, "label_smoothing": ls, "num_classes": K}, inputs,
            lambda t, r=red, l=ls: {"loss": F.cross_entropy(t["logits"], t["labels"], reduction=r,
                                                            label_smoothing=l)},
            rng, gout=None if red == "none" else one, gout_for="loss",
            notes="labels are int64 and have no gradient"))

    for op, fn in [("log_softmax", F.log_softmax), ("softmax", F.softmax)]:
        for shape, scale in [((4, 6), 3.0), ((3, 5), 100.0), ((1, 3), 3.0), ((2, 10), 1.0)]:
            name = "%s_%s_scale%g" % (op, shape_tag(shape), scale)
            rng = Rng(fam, name)
            cases.append(make_case(name, op, {"dim": 1}, {"x": rng.uniform(shape, -scale, scale)},
                                   lambda t, fn=fn: {"y": fn(t["x"], dim=1)}, rng))

    kl_note = ("loss = sum_i KL(softmax(logits_nat_i) || softmax(logits_adv_i)) [/ N] = "
               "F.kl_div(log_softmax(adv), softmax(nat), reduction='sum') [/ N]; the clean (nat) "
               "distribution is not detached, so both inputs get gradients")
    for tag, N, K, scale, div, near in [
            ("", 4, 10, 3.0, False, False), ("", 4, 10, 3.0, True, False), ("", 1, 3, 3.0, True, False),
            ("_near", 3, 5, 3.0, True, True), ("_scale10", 3, 5, 10.0, False, False)]:
        name = "trades_kl%s_%s_n%dk%d" % (tag, "div" if div else "nodiv", N, K)
        rng = Rng(fam, name)
        nat = rng.uniform((N, K), -scale, scale)
        if near:
            adv = (nat.double() + rng.uniform((N, K), -0.05, 0.05).double()).to(torch.float32)
        else:
            adv = rng.uniform((N, K), -scale, scale)
        inputs = {"logits_adv": adv, "logits_nat": nat}

        def f(t, div=div, N=N):
            loss = F.kl_div(F.log_softmax(t["logits_adv"], dim=1), F.softmax(t["logits_nat"], dim=1),
                            reduction="sum")
            return {"loss": loss / N if div else loss}
        cases.append(make_case(name, "trades_kl", {"reduction": "sum", "divide_by_batch": div}, inputs,
                               f, rng, gout=one, gout_for="loss", notes=kl_note))

    def dlr(z, y, re):
        zs, ind = z.sort(dim=1)
        zy = z.gather(1, y[:, None])[:, 0]
        correct = (ind[:, -1] == y).to(z.dtype)
        other = zs[:, -2] * correct + zs[:, -1] * (1 - correct)
        loss = -(zy - other) / (zs[:, -1] - zs[:, -3] + 1e-12)
        return loss * correct if re else loss

    for op in ("dlr", "redlr"):
        for N, K, scale in [(6, 10, 3.0), (4, 3, 3.0), (5, 4, 3.0), (4, 10, 100.0)]:
            name = "%s_n%dk%d_scale%g" % (op, N, K, scale)
            rng = Rng(fam, name)
            for _ in range(100):
                z = rng.uniform((N, K), -scale, scale)
                if _sorted_gap_ok(z):
                    break
            else:
                raise RuntimeError("could not draw tie-free logits")
            # Even rows correctly classified, odd rows labelled with a random
            # non-argmax class (so the wrong label ranks 2nd, 3rd, ...).
            am = z.argmax(dim=1)
            y = torch.empty(N, dtype=torch.int64)
            for i in range(N):
                if i % 2 == 0:
                    y[i] = am[i]
                else:
                    other = int(torch.randint(0, K - 1, (1,), generator=rng.g))
                    y[i] = other if other < am[i] else other + 1
            notes = ("DLR = -(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12) per example (Croce & Hein); "
                     "the sort is held fixed when differentiating; logits are tie-free (gaps > 1e-3); "
                     "even rows are correctly classified, odd rows are not")
            if op == "redlr":
                notes += "; ReDLR = DLR on correctly classified rows, 0 with zero gradient on the others"
            cases.append(make_case(name, op, {}, {"logits": z, "labels": y},
                                   lambda t, re=(op == "redlr"): {"loss": dlr(t["logits"], t["labels"], re)},
                                   rng, gout_for="loss", notes=notes))
    return cases


# ----------------------------------------------------------------------------
# PGD steps
# ----------------------------------------------------------------------------

def pgd_cases():
    fam = "pgd"
    cases = []
    f32 = torch.float32

    # eps and alpha are params (one number for the batch) or, per example,
    # float32 inputs named "eps" / "alpha" of shape [N] (and then absent from
    # params): per-example values are data, written exactly like the images.
    # engine/ops/pgd_step.ts's case adapter reads either form.
    def per_example(t, name, scalar, view, dtype):
        """The [N] input as a column of `view`, or the scalar: a float32
        tensor, or with dtype None the Python float (as the scalar cases
        were made: torch divides a Python float by a tensor through the
        reciprocal, so a tensor would move their float64 values by an ulp)."""
        if name in t:
            return t[name].detach().to(dtype or torch.float64).reshape(view)
        return scalar if dtype is None else torch.tensor(scalar, dtype=dtype)

    def linf(t, eps, alpha):
        # float32 arithmetic throughout: eps and alpha rounded to float32
        # first, every op rounds to float32 as the engine's kernel does.
        x, xa, g = (t[k].detach().to(f32) for k in ("x", "x_adv", "grad"))
        view = (-1,) + (1,) * (x.dim() - 1)
        e, a = per_example(t, "eps", eps, view, f32), per_example(t, "alpha", alpha, view, f32)
        stepped = xa + a * torch.sign(g)
        out = torch.clamp(torch.minimum(torch.maximum(stepped, x - e), x + e), 0.0, 1.0)
        assert out.dtype == f32
        return {"x_adv_new": out}

    linf_note = ("bit-exact float32 semantics: eps and alpha rounded to float32, then "
                 "clamp(min(max(x_adv + alpha * sign(grad), x - eps), x + eps), 0, 1) with every op rounded to "
                 "float32; x_adv_new holds those float32 values (written as float64); sign(0) = 0")
    shape = (2, 2, 4, 4)
    for tag, eps, alpha in [("random", 8 / 255, 2 / 255), ("random_eps0.3", 0.3, 0.01),
                            ("zero_grad", 8 / 255, 2 / 255), ("boundary", 0.1, 0.02),
                            ("alpha_gt_eps", 0.1, 0.25), ("near_0_1", 0.03, 0.01)]:
        name = "pgd_linf_step_%s_%s" % (tag, shape_tag(shape))
        rng = Rng(fam, name)
        e32 = torch.tensor(eps, dtype=f32)
        x = rng.uniform(shape, 0, 1)
        g = rng.uniform(shape, -1, 1) * (rng.uniform(shape) > -0.6).to(f32)  # ~20% exact zeros
        if tag == "zero_grad":
            g = torch.zeros(shape, dtype=f32)
            # Start partly outside the ball and outside [0, 1] (TRADES does
            # not clamp its start): projection and clamp still act.
            xa = x + rng.uniform(shape, -2 * eps, 2 * eps)
            xa[0, 0, 0, :2] = torch.tensor([-0.01, 1.02])
        elif tag == "boundary":
            side = torch.where(rng.uniform(shape) < 0, -1.0, 1.0).to(f32)
            xa = torch.where(side > 0, x + e32, x - e32)
        elif tag == "near_0_1":
            x = torch.cat([rng.uniform((16,), 0, 0.02), rng.uniform((16,), 0.98, 1.0),
                           torch.tensor([0.0] * 8 + [1.0] * 8), rng.uniform((16,), 0, 1)]).to(f32).reshape(shape)
            xa = torch.clamp(x + rng.uniform(shape, -eps, eps), 0, 1)
        else:
            xa = torch.clamp(x + rng.uniform(shape, -eps, eps), 0, 1)
        cases.append(make_case(name, "pgd_linf_step", {"eps": eps, "alpha": alpha},
                               {"x": x, "x_adv": xa, "grad": g},
                               lambda t, e=eps, a=alpha: linf(t, e, a), rng, differentiable=[],
                               notes=linf_note))

    # Per example (APGD's step, W-PGD's radii): a row with eps 0, alpha > eps,
    # a zero-gradient row, mixed radii, and all rows equal (the scalar form).
    shape = (4, 2, 3, 3)
    for tag, eps, alpha in [("per_example_eps_alpha", [8 / 255, 0.0, 0.1, 4 / 255], [2 / 255, 0.05, 0.25, 1 / 255]),
                            ("per_example_eps", [0.3, 0.01, 0.0, 0.05], 0.01),
                            ("per_example_alpha", 0.1, [0.0, 0.02, 0.5, 0.1]),
                            ("per_example_equal", [8 / 255] * 4, [2 / 255] * 4)]:
        name = "pgd_linf_step_%s_%s" % (tag, shape_tag(shape))
        rng = Rng(fam, name)
        params, rows = {}, {}
        for k, v in (("eps", eps), ("alpha", alpha)):
            if isinstance(v, list):
                rows[k] = torch.tensor(v, dtype=f32)
            else:
                params[k] = v
        radius = rows["eps"].reshape(-1, 1, 1, 1) if "eps" in rows else torch.tensor(eps, dtype=f32)
        x = rng.uniform(shape, 0, 1)
        g = rng.uniform(shape, -1, 1) * (rng.uniform(shape) > -0.6).to(f32)
        if tag == "per_example_eps_alpha":
            g[3] = 0
        # Iterates up to 1.5 eps away: some outside the box, projected back.
        xa = torch.clamp(x + rng.uniform(shape, -1.5, 1.5) * radius, 0, 1)
        cases.append(make_case(name, "pgd_linf_step", params, dict({"x": x, "x_adv": xa, "grad": g}, **rows),
                               lambda t, e=eps, a=alpha: linf(t, e, a), rng, differentiable=[],
                               notes=linf_note + "; eps and/or alpha per example (inputs of shape [N])"))

    def l2(t, eps, alpha, floor):
        x, xa, g = (t[k].detach() for k in ("x", "x_adv", "grad"))
        dims = tuple(range(1, x.dim()))
        view = (-1,) + (1,) * (x.dim() - 1)
        e, a = (per_example(t, k, v, view, None) for k, v in (("eps", eps), ("alpha", alpha)))
        gn = g.pow(2).sum(dim=dims).sqrt().clamp(min=floor).reshape(view)
        d = (xa + a * g / gn) - x
        dn = d.pow(2).sum(dim=dims).sqrt().clamp(min=floor).reshape(view)
        d = d * torch.clamp(e / dn, max=1.0)
        return {"x_adv_new": torch.clamp(x + d, 0.0, 1.0)}

    l2_note = ("computed in float64 from the float32 inputs: per example (norms over all non-batch dims) "
               "step = alpha * g / max(||g||, floor); d = (x_adv + step) - x; "
               "d *= min(1, eps / max(||d||, floor)); x_adv_new = clamp(x + d, 0, 1)")
    shape = (3, 2, 3, 3)
    for tag, eps, alpha in [("random", 0.5, 0.1), ("zero_grad_example", 0.5, 0.1),
                            ("projection_active", 0.3, 1.0), ("start_at_x", 1.0, 0.25),
                            ("near_0_1", 0.5, 0.2)]:
        name = "pgd_l2_step_%s_%s" % (tag, shape_tag(shape))
        rng = Rng(fam, name)
        x = rng.uniform(shape, 0, 1)
        g = rng.uniform(shape, -1, 1)
        xa = torch.clamp(x + rng.uniform(shape, -0.05, 0.05), 0, 1)
        if tag == "zero_grad_example":
            g[1] = 0
            xa[1] = torch.clamp(x[1] + rng.uniform(shape[1:], -0.3, 0.3), 0, 1)  # ||d|| > eps: projected
        elif tag == "start_at_x":
            xa = x.clone()
            g[2] = 0  # d = 0 exactly: the floor keeps it finite
        elif tag == "near_0_1":
            x = torch.where(rng.uniform(shape) < 0, rng.uniform(shape, 0, 0.02),
                            rng.uniform(shape, 0.98, 1.0))
            xa = x.clone()
        params = {"eps": eps, "alpha": alpha, "norm_floor": 1e-12}
        cases.append(make_case(name, "pgd_l2_step", params, {"x": x, "x_adv": xa, "grad": g},
                               lambda t, e=eps, a=alpha: l2(t, e, a, 1e-12), rng, differentiable=[],
                               notes=l2_note))

    # Per example: a row with eps 0, alpha > eps, a zero-gradient row outside
    # its ball (projected), mixed radii.
    shape = (4, 2, 3, 3)
    for tag, eps, alpha in [("per_example_eps_alpha", [0.5, 0.0, 1.0, 0.3], [0.1, 0.3, 2.0, 0.1]),
                            ("per_example_eps", [0.2, 1.0, 0.05, 0.5], 0.25),
                            ("per_example_alpha", 0.5, [0.0, 0.1, 1.0, 0.2])]:
        name = "pgd_l2_step_%s_%s" % (tag, shape_tag(shape))
        rng = Rng(fam, name)
        params, rows = {"norm_floor": 1e-12}, {}
        for k, v in (("eps", eps), ("alpha", alpha)):
            if isinstance(v, list):
                rows[k] = torch.tensor(v, dtype=f32)
            else:
                params[k] = v
        x = rng.uniform(shape, 0, 1)
        g = rng.uniform(shape, -1, 1)
        xa = torch.clamp(x + rng.uniform(shape, -0.05, 0.05), 0, 1)
        if tag == "per_example_eps_alpha":
            g[3] = 0
            xa[3] = torch.clamp(x[3] + rng.uniform(shape[1:], -0.3, 0.3), 0, 1)  # ||d|| > eps: projected
        cases.append(make_case(name, "pgd_l2_step", params, dict({"x": x, "x_adv": xa, "grad": g}, **rows),
                               lambda t, e=eps, a=alpha: l2(t, e, a, 1e-12), rng, differentiable=[],
                               notes=l2_note + "; eps and/or alpha per example (inputs of shape [N])"))
    return cases


# ----------------------------------------------------------------------------
# optimizers
# ----------------------------------------------------------------------------

def optim_cases():
    fam = "optim"
    cases = []
    shapes = {"w": (3, 4), "b": (4,)}
    steps = 3

    configs = [
        ("sgd_plain", "sgd", {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                              "nesterov": False}),
        ("sgd_momentum", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                                 "nesterov": False}),
        ("sgd_momentum_dampening", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1,
                                           "weight_decay": 0.0, "nesterov": False}),
        ("sgd_nesterov", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                                 "nesterov": True}),
        ("sgd_weight_decay", "sgd", {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.05,
                                     "nesterov": False}),
        ("sgd_momentum_weight_decay", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                                              "weight_decay": 5e-4, "nesterov": True}),
        ("adam", "adam", {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
                          "amsgrad": False}),
        ("adam_weight_decay", "adam", {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
                                       "weight_decay": 0.01, "amsgrad": False}),
        ("adamw", "adamw", {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
                            "amsgrad": False}),
    ]
    notes = {
        "sgd": ("torch.optim.SGD in float64: g = grad + wd * p; buf = g at the first step, then "
                "momentum * buf + (1 - dampening) * g; nesterov: g + momentum * buf, else buf; p -= lr * that"),
        "adam": ("torch.optim.Adam in float64: g = grad + wd * p (L2, coupled); m, v EMAs; "
                 "p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)"),
        "adamw": ("torch.optim.AdamW in float64: p *= 1 - lr * wd (decoupled) before the Adam step "
                  "p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)"),
    }
    for name, op, hp in configs:
        rng = Rng(fam, name)
        p0 = {k: rng.uniform(s, -1, 1) for k, s in shapes.items()}
        gs = [{k: rng.uniform(s, -1, 1) for k, s in shapes.items()} for _ in range(steps)]
        ps = {k: v.to(torch.float64).clone().requires_grad_(True) for k, v in p0.items()}
        plist = [ps[k] for k in shapes]
        if op == "sgd":
            opt = torch.optim.SGD(plist, lr=hp["lr"], momentum=hp["momentum"], dampening=hp["dampening"],
                                  weight_decay=hp["weight_decay"], nesterov=hp["nesterov"])
        else:
            cls = torch.optim.Adam if op == "adam" else torch.optim.AdamW
            opt = cls(plist, lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"],
                      weight_decay=hp["weight_decay"], amsgrad=hp["amsgrad"])
        params_per_step, state_per_step = [], []
        for g in gs:
            for k in shapes:
                ps[k].grad = g[k].to(torch.float64).clone()
            opt.step()
            params_per_step.append({k: tensor_json(ps[k], "float64") for k in shapes})
            st = {}
            for k in shapes:
                for sk, sv in sorted(opt.state[ps[k]].items()):
                    if torch.is_tensor(sv) and sv.numel() > 1:
                        st["%s.%s" % (k, sk)] = tensor_json(sv, "float64")
            state_per_step.append(st)
        params = dict(hp)
        params["steps"] = steps
        cases.append({
            "name": name, "op": op, "params": params,
            "inputs": {"params": {k: tensor_json(v, "float32") for k, v in p0.items()},
                       "grads_per_step": [{k: tensor_json(v, "float32") for k, v in g.items()} for g in gs]},
            "outputs": {"params_per_step": params_per_step, "state_per_step": state_per_step},
            "gout": None, "gout_for": None, "grads": {},
            "notes": notes[op] + "; state_per_step holds the optimizer state tensors as 'param.state_name'",
        })
    return cases


# ----------------------------------------------------------------------------
# composite: tiny conv net
# ----------------------------------------------------------------------------

def tiny_net_cases():
    fam = "composite"
    F = torch.nn.functional
    momentum, eps = 0.1, 1e-5
    rng = Rng(fam, "tiny_net")  # one draw shared by both cases: same weights

    def forward(t, training, pre_out=None):
        h = F.conv2d(t["x"], t["conv1.weight"], None, stride=1, padding=1)
        rm = t["bn1.running_mean"].detach().clone()
        rv = t["bn1.running_var"].detach().clone()
        h = F.batch_norm(h, rm, rv, t["bn1.weight"], t["bn1.bias"], training, momentum, eps)
        h = F.silu(h)
        h = F.conv2d(h, t["conv2.weight"], t["conv2.bias"], stride=2, padding=1)
        if pre_out is not None:
            pre_out.append(h.detach())
        h = torch.relu(h).mean(dim=(2, 3))
        logits = h @ t["fc.weight"].T + t["fc.bias"]
        out = {"loss": F.cross_entropy(logits, t["labels"]), "logits": logits}
        if training:
            out["bn1.running_mean"] = rm
            out["bn1.running_var"] = rv
        return out

    for _ in range(100):
        inputs = {
            "x": rng.uniform((4, 3, 9, 9), -1, 1),
            "labels": torch.randint(0, 10, (4,), generator=rng.g),
            "conv1.weight": rng.uniform((8, 3, 3, 3), -0.4, 0.4),
            "bn1.weight": rng.uniform((8,), 0.5, 1.5),
            "bn1.bias": rng.uniform((8,), -0.3, 0.3),
            "bn1.running_mean": rng.uniform((8,), -0.3, 0.3),
            "bn1.running_var": rng.uniform((8,), 0.5, 2.0),
            "conv2.weight": rng.uniform((16, 8, 3, 3), -0.2, 0.2),
            "conv2.bias": rng.uniform((16,), -0.2, 0.2),
            "fc.weight": rng.uniform((10, 16), -0.5, 0.5),
            "fc.bias": rng.uniform((10,), -0.2, 0.2),
        }
        ok = True
        for training in (True, False):
            pre = []
            with torch.no_grad():
                forward({k: v if v.dtype == torch.int64 else v.double() for k, v in inputs.items()},
                        training, pre)
            ok = ok and bool(torch.all(pre[0].abs() > 1e-4))
        if ok:
            break
    else:
        raise RuntimeError("could not draw kink-free tiny_net data")

    differentiable = ["x", "conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "conv2.bias",
                      "fc.weight", "fc.bias"]
    cases = []
    for training in (True, False):
        name = "tiny_net_%s" % ("train" if training else "eval")
        cases.append(make_case(
            name, "tiny_net", {"training": training, "momentum": momentum, "eps": eps}, inputs,
            lambda t, tr=training: forward(t, tr), rng, differentiable=differentiable,
            gout=torch.tensor(1.0, dtype=torch.float32), gout_for="loss",
            notes=("x -> conv1 (3->8, 3x3, s1, p1, no bias) -> bn1 -> SiLU -> conv2 (8->16, 3x3, s2, p1) -> ReLU "
                   "-> global average pool -> fc (16->10) -> logits; loss = mean cross-entropy. Inputs use "
                   "PyTorch state_dict names; every ReLU pre-activation is more than 1e-4 from 0; "
                   "training mode also outputs bn1's running stats after the forward")))
    return cases


# ----------------------------------------------------------------------------
# indexing
# ----------------------------------------------------------------------------

def indexing_cases():
    """gather, index_select, scatter, scatter_add, index_copy, index_add and
    masked_select along an axis (params.dim). Overwrites (scatter, index_copy)
    use unique indices, since PyTorch leaves duplicates undefined; the adds and
    gathers draw indices with duplicates. masked_select's params.count is the
    number of true mask elements (the output's length, which the engine's
    synchronous form takes); its mask is float32 0/1."""
    fam = "indexing"
    cases = []

    def randint(rng, n, shape):
        return torch.randint(0, n, shape, generator=rng.g)

    def unique_along(rng, shape, dim, n):
        """An index of `shape` whose lines along dim hold distinct values in [0, n)."""
        idx = torch.empty(shape, dtype=torch.int64)
        others = [range(s) for d, s in enumerate(shape) if d != dim]
        for c in itertools.product(*others):
            at = tuple(c[:dim]) + (slice(None),) + tuple(c[dim:])
            idx[at] = torch.randperm(n, generator=rng.g)[:shape[dim]]
        return idx

    def add(name, op, params, rng, inputs, fn, differentiable=None, notes=None):
        cases.append(make_case(name, op, params, inputs, fn, rng, differentiable=differentiable, notes=notes))

    for xs, dim, ish in [((5,), 0, (8,)), ((4, 7), 1, (4, 3)), ((4, 7), -1, (2, 9)), ((6, 5), 0, (9, 5)),
                         ((3, 5, 4), 1, (3, 2, 4)), ((2, 3, 5, 3), -2, (2, 1, 7, 2)), ((33, 10), 1, (33, 1))]:
        name = "gather_%s_d%d_i%s" % (shape_tag(xs), dim, shape_tag(ish))
        rng = Rng(fam, name)
        add(name, "gather", {"dim": dim}, rng, {"x": rng.uniform(xs, -2, 2), "index": randint(rng, xs[dim], ish)},
            lambda t, d=dim: {"y": torch.gather(t["x"], d, t["index"])})

    for xs, dim, m in [((7,), 0, 10), ((9, 5), 0, 4), ((4, 6), -1, 9), ((3, 5, 7), 1, 3), ((5, 3, 2, 4), 0, 1)]:
        name = "index_select_%s_d%d_m%d" % (shape_tag(xs), dim, m)
        rng = Rng(fam, name)
        add(name, "index_select", {"dim": dim}, rng, {"x": rng.uniform(xs, -2, 2), "index": randint(rng, xs[dim], (m,))},
            lambda t, d=dim: {"y": torch.index_select(t["x"], d, t["index"])})

    for op, fn in [("scatter", torch.scatter), ("scatter_add", torch.scatter_add)]:
        for xs, dim, ish, ss in [((6,), 0, (4,), (4,)), ((5, 4), 0, (3, 4), (3, 4)), ((3, 7), -1, (2, 5), (3, 6)),
                                 ((2, 5, 3), 1, (2, 3, 3), (2, 3, 3)), ((4, 6), 1, (4, 8), (4, 8))]:
            if op == "scatter" and ish[dim] > xs[dim]:
                continue  # more index entries along dim than positions: duplicates, undefined for scatter
            name = "%s_%s_d%d_i%s_s%s" % (op, shape_tag(xs), dim, shape_tag(ish), shape_tag(ss))
            rng = Rng(fam, name)
            d = dim % len(xs)
            index = unique_along(rng, ish, d, xs[d]) if op == "scatter" else randint(rng, xs[d], ish)
            # PyTorch's src gradient has the index's shape, so a larger src gets gradients for x only.
            larger = ish != ss
            add(name, op, {"dim": dim}, rng, {"x": rng.uniform(xs, -2, 2), "index": index, "src": rng.uniform(ss, -2, 2)},
                lambda t, f=fn, dm=dim: {"y": f(t["x"], dm, t["index"], t["src"])},
                differentiable=["x"] if larger else None,
                notes="src is larger than index: only x's gradient (PyTorch has none for such a src)" if larger else None)

    for xs, dim, m in [((9,), 0, 4), ((7, 2, 3, 3), 0, 3), ((4, 9), -1, 9), ((3, 6, 5), 1, 2)]:
        name = "index_copy_%s_d%d_m%d" % (shape_tag(xs), dim, m)
        rng = Rng(fam, name)
        d = dim % len(xs)
        ss = tuple(m if i == d else s for i, s in enumerate(xs))
        add(name, "index_copy", {"dim": dim}, rng,
            {"x": rng.uniform(xs, -2, 2), "index": torch.randperm(xs[d], generator=rng.g)[:m], "src": rng.uniform(ss, -2, 2)},
            lambda t, dm=dim: {"y": torch.index_copy(t["x"], dm, t["index"], t["src"])})

    for xs, dim, m, alpha in [((6,), 0, 10, 1.0), ((7, 5), 0, 4, 1.0), ((3, 8), -1, 11, -2.5), ((2, 5, 3), 1, 6, 1.0)]:
        name = "index_add_%s_d%d_m%d%s" % (shape_tag(xs), dim, m, "_alpha" if alpha != 1 else "")
        rng = Rng(fam, name)
        d = dim % len(xs)
        ss = tuple(m if i == d else s for i, s in enumerate(xs))
        add(name, "index_add", {"dim": dim, "alpha": alpha}, rng,
            {"x": rng.uniform(xs, -2, 2), "index": randint(rng, xs[d], (m,)), "src": rng.uniform(ss, -2, 2)},
            lambda t, dm=dim, a=alpha: {"y": torch.index_add(t["x"], dm, t["index"], t["src"], alpha=a)})

    for tag, xs, ms, p in [("random", (4, 5), (4, 5), 0.5), ("random", (2, 3, 4), (2, 3, 4), 0.3),
                           ("all_false", (3, 1, 5), (3, 1, 5), 0.0), ("all_true", (7,), (7,), 1.0),
                           ("broadcast", (2, 3), (3,), 0.5), ("random", (1300,), (1300,), 0.4)]:
        name = "masked_select_%s_%s_m%s" % (tag, shape_tag(xs), shape_tag(ms))
        rng = Rng(fam, name)
        mask = (rng.uniform(ms, 0, 1) < p).to(torch.float32)
        # The long case (more than one scan block) on a coarse grid, to keep the file small.
        big = torch.Size(xs).numel() > 1024
        x = rng.grid(xs, -2, 2, 1 / 64) if big else rng.uniform(xs, -2, 2)
        count = int(torch.broadcast_to(mask, torch.broadcast_shapes(xs, ms)).sum())
        cases.append(make_case(name, "masked_select", {"count": count}, {"x": x, "mask": mask},
                               lambda t: {"y": torch.masked_select(t["x"], t["mask"] != 0)}, rng, differentiable=["x"],
                               gout=rng.grid((count,), -2, 2, 1 / 64) if big else None))
    return cases


# ----------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------

def write(filename, family, cases):
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names in " + filename
    # One case per line: small diffs when a case changes, still plain JSON.
    head = json.dumps({"schema_version": 1, "family": family, "generator": GENERATOR})
    body = ",\n".join(json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases)
    text = head[:-1] + ', "cases": [\n' + body + "\n]}\n"
    json.loads(text)  # guard against a malformed splice
    path = os.path.join(OUT_DIR, filename)
    with open(path, "w") as f:
        f.write(text)
    print("%-20s %4d cases %8d bytes" % (filename, len(cases), len(text)))


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    write("matmul.json", "matmul", matmul_cases())
    write("elementwise.json", "elementwise", elementwise_cases())
    write("reductions.json", "reductions", reduction_cases())
    write("movement.json", "movement", movement_cases())
    write("mlp2.json", "composite", mlp2_cases())
    write("conv2d.json", "conv2d", conv2d_cases())
    write("batch_norm.json", "batch_norm2d", batch_norm_cases())
    write("pooling.json", "pooling", pooling_cases())
    write("activations.json", "activations", activation_cases())
    write("losses.json", "losses", loss_cases())
    write("pgd.json", "pgd", pgd_cases())
    write("optim.json", "optim", optim_cases())
    write("tiny_net.json", "composite", tiny_net_cases())
    write("indexing.json", "indexing", indexing_cases())


if __name__ == "__main__":
    main()
