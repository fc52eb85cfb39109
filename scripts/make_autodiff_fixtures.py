#!/usr/bin/python3
"""Generate test/fixtures/autodiff/intermediate_grads.json: gradients with respect to intermediate
tensors (torch.autograd.grad on non-leaves), for test/engine/intermediate_grad.test.ts.

Run with Debian's interpreter (the one python3-torch is installed for):

    /usr/bin/python3 scripts/make_autodiff_fixtures.py

The graph, in float64 from float32-exact inputs (x [3, 4], w [5, 4], b [5], v [5]):
    h = tanh(x @ w^T + b)          (intermediate, [3, 5])
    s = h * h + h                  (intermediate with fan-out, [3, 5])
    loss = sum(s @ v) + sum(h)     (h is used twice: through s and directly)
Stored: the inputs, loss, d loss / d h, d loss / d s, and d loss / d x, d loss / d w (leaves, for the
same call asking for h and the leaves together).
"""
import json
import os

import torch

torch.manual_seed(0)
gen = torch.Generator().manual_seed(7)


def draw(*shape):
    return torch.randn(*shape, generator=gen).float().double()


x, w, b, v = draw(3, 4), draw(5, 4), draw(5), draw(5)
x.requires_grad_(True)
w.requires_grad_(True)
h = torch.tanh(x @ w.T + b)
s = h * h + h
loss = (s @ v).sum() + h.sum()
gh, gs, gx, gw = torch.autograd.grad(loss, [h, s, x, w])


def t(a):
    return {"shape": list(a.shape), "data": [float(u) for u in a.detach().reshape(-1).tolist()]}


out = {
    "generator": "scripts/make_autodiff_fixtures.py (torch %s, float64)" % torch.__version__,
    "inputs": {"x": t(x), "w": t(w), "b": t(b), "v": t(v)},
    "loss": float(loss),
    "grads": {"h": t(gh), "s": t(gs), "x": t(gx), "w": t(gw)},
}
path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "autodiff", "intermediate_grads.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
