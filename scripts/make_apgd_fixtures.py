#!/usr/bin/python3
"""Generate test/fixtures/attacks/apgd_reference.json: APGD runs of the reference implementation
(fra31/auto-attack, autoattack/autopgd_base.py) for test/training/attacks/apgd.test.ts.

Needs Debian's python3-torch and a copy of the reference package on the path:

    AUTOATTACK_PATH=/path/to/auto-attack /usr/bin/python3 scripts/make_apgd_fixtures.py

(the folder that contains `autoattack/`; it is not part of this repository). The model is a small MLP
16-12-4 with tanh (smooth, so the runs are not decided by ties), float32 weights, 32 images; every run
(100 iterations, so all 8 checkpoints happen) starts from a given x_init (APGD's own random start is
torch's RNG), so our APGD can start from the same point. Stored per run: settings, x, y, x_init, targets
(the targeted run: the second most likely class), and the reference's x_best, loss_best and acc (still
correct) after attack_single_run.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.environ.get("AUTOATTACK_PATH", ""))
from autoattack.autopgd_base import APGDAttack, APGDAttack_targeted  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(11)


def t(a):
    return {"shape": list(a.shape), "data": [float(u) for u in a.detach().reshape(-1).tolist()]}


w1 = (torch.randn(12, 16, generator=gen) * 0.8).float()
b1 = (torch.randn(12, generator=gen) * 0.1).float()
w2 = (torch.randn(4, 12, generator=gen) * 0.8).float()
b2 = (torch.randn(4, generator=gen) * 0.1).float()


class Mlp(torch.nn.Module):
    def forward(self, x):
        h = torch.tanh(x.reshape(x.shape[0], -1) @ w1.T + b1)
        return h @ w2.T + b2


model = Mlp().eval()
N = 32
x = torch.rand(N, 1, 4, 4, generator=gen).float()
y = model(x).argmax(1)
runs = []
for norm, eps, loss in [("Linf", 0.04, "ce"), ("Linf", 0.04, "dlr"), ("L2", 0.2, "ce"), ("Linf", 0.04, "dlr-targeted")]:
    u = torch.rand(x.shape, generator=gen) * 2 - 1
    if norm == "Linf":
        x_init = (x + eps * u / u.abs().reshape(N, -1).max(1)[0].reshape(N, 1, 1, 1)).clamp(0, 1)
    else:
        x_init = (x + eps * u / u.reshape(N, -1).norm(dim=1).reshape(N, 1, 1, 1)).clamp(0, 1)
    targets = None
    if loss == "dlr-targeted":
        attack = APGDAttack_targeted(model, n_iter=100, norm=norm, eps=eps, seed=0, device="cpu")
        targets = model(x).sort(dim=1)[1][:, -2]
        attack.y_target = targets
    else:
        attack = APGDAttack(model, n_iter=100, norm=norm, eps=eps, loss=loss, seed=0, device="cpu")
    attack.init_hyperparam(x)
    x_best, acc, loss_best, x_best_adv = attack.attack_single_run(x, y, x_init=x_init)
    runs.append({
        "norm": norm.lower(), "eps": eps, "loss": loss, "steps": 100, "x_init": t(x_init),
        "targets": None if targets is None else [int(v) for v in targets.tolist()],
        "x_best": t(x_best), "loss_best": t(loss_best), "acc": [bool(a) for a in acc.tolist()],
    })

out = {
    "generator": "scripts/make_apgd_fixtures.py (torch %s, autoattack autopgd_base.py)" % torch.__version__,
    "weights": {"fc1.weight": t(w1), "fc1.bias": t(b1), "fc2.weight": t(w2), "fc2.bias": t(b2)},
    "x": t(x), "y": [int(v) for v in y.tolist()], "runs": runs,
}
path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "attacks", "apgd_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
