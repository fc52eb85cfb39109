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
        differentiable = list(inputs)
    x64 = {k: v.to(torch.float64).requires_grad_(k in differentiable) for k, v in inputs.items()}
    outputs = fn(x64)

    case = {"name": name, "op": op, "params": params,
            "inputs": {k: tensor_json(v, "float32") for k, v in inputs.items()}}
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


if __name__ == "__main__":
    main()
