#!/usr/bin/env python3
"""The training jobs of `robustgpu bench`'s suite 'epoch' (bench/epoch.ts) written in PyTorch, timed whole on the same machine.

A job is `robustgpu train`'s work from the data to the report: load the training images (the first
train_limit) and hold out a part, one epoch of TRADES-5 (beta 6, KL inner attack: 5 steps of eps/4 from
x + 0.001 N(0,1), BatchNorm in eval mode during the attack) with SGD lr 0.05 momentum 0.9 weight decay 5e-4,
cosine per step, random crop (pad 4) and flip on 32x32 colour images; after the epoch clean and PGD-10 on
eval_n held-out images and two checkpoint writes (last, best); then clean and PGD-20 (step 2.5 eps / 20,
uniform random start) on final_n test images and the sanity checks of robustgpu eval (PGD-20 at eps/2 and eps,
PGD-5 at eps with the same step, PGD-40 at eps 0.5, on the first 500 of them); every attack runs on the
clean-correct examples only, as robustgpu's evaluate. The data pipeline is in memory,
shuffled per epoch, as robustgpu's loader. The jobs (JOBS below; a test checks them against bench/epoch.ts):
  convnet-16 ...  ConvNet-16 with SiLU on Fashion-MNIST (the job of `npm start`), eps 0.1;
  preact_resnet18 ...  PreAct ResNet-18 (ReLU) on robustgpu's synthetic CIFAR-shaped set (sine gratings; the same
                  kind of images here, not the same numbers), eps 8/255.
Prints one JSON line per job (training images/s, seconds of each phase, accuracies).

Usage:
  /usr/bin/python3 bench/torch/torch_epoch.py [--threads N] [--data DIR] [--max-steps N] [--eval-n N] [--activation silu|relu]
      the npm start job alone (as before: --max-steps cuts the epoch, --eval-n the test images)
  /usr/bin/python3 bench/torch/torch_epoch.py --bench quick|full [--device cpu|cuda] [--threads N] --out FILE
      every job of the bench mode, written as a reference run for `robustgpu bench --filter epoch --against FILE`
"""
import argparse
import gzip
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_threads = torch.get_num_threads()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from make_model_fixtures import PreActResNet18  # noqa: E402  (the reference architecture)
torch.set_num_threads(_threads)  # its import pins one thread, for its deterministic fixtures

# The bench's jobs by mode, as bench/epoch.ts's epochJobs (test/bench/epoch.test.ts compares the two).
JOBS = {
    "quick": [
        {"name": "convnet-16 trades-5 fashion-mnist b128 n7680", "model": "convnet-16", "activation": "silu", "dataset": "fashion-mnist",
         "batch": 128, "eps": 0.1, "train_limit": 8680, "held_out": 1000, "eval_n": 500, "final_n": 1000},
        {"name": "preact_resnet18-16 trades-5 synthetic b32 n640", "model": "preact_resnet18-16", "activation": "relu", "dataset": "synthetic",
         "batch": 32, "eps": 8 / 255, "train_limit": 740, "held_out": 100, "eval_n": 100, "final_n": 200},
    ],
    "full": [
        {"name": "convnet-16 trades-5 fashion-mnist b128", "model": "convnet-16", "activation": "silu", "dataset": "fashion-mnist",
         "batch": 128, "eps": 0.1, "train_limit": None, "held_out": 1000, "eval_n": 500, "final_n": None},
        {"name": "preact_resnet18 trades-5 synthetic b128", "model": "preact_resnet18", "activation": "relu", "dataset": "synthetic",
         "batch": 128, "eps": 8 / 255, "train_limit": None, "held_out": 500, "eval_n": 500, "final_n": None},
    ],
}
SYNTHETIC_SIZES = {"train": 5000, "test": 1000}  # training/data/datasets.ts
CIFAR10_MEAN, CIFAR10_STD = [0.4914, 0.4822, 0.4465], [0.2471, 0.2435, 0.2616]


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(root, split):
    prefix = "train" if split == "train" else "t10k"
    x = idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def synthetic(split, n, classes=10, shape=(3, 32, 32), noise=0.1):
    """robustgpu's synthetic set (training/data/synthetic.ts) in kind, from numpy's generator: each class a sine
    grating (its orientation, frequency, per-channel brightness and contrast), each image a random phase of it
    plus Gaussian noise, clamped to [0, 1]; balanced classes. Learnable, so the evaluation attacks as many
    clean-correct examples as robustgpu's does."""
    c, h, w = shape
    pr = np.random.default_rng(0)
    angle = np.pi * (np.arange(classes) + pr.uniform(0.1, 0.9, classes)) / classes
    freq = pr.uniform(1.5, 4, classes)
    base = pr.uniform(0.3, 0.7, (classes, c))
    amp = pr.uniform(0.15, 0.3, (classes, c))
    r = np.random.default_rng(1 if split == "train" else 2)
    labels = r.permutation(n) % classes
    phase = r.uniform(0, 2 * np.pi, n)
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    t = 2 * np.pi * freq[labels, None, None] * (xx * np.cos(angle[labels])[:, None, None] + yy * np.sin(angle[labels])[:, None, None]) / max(h, w) + phase[:, None, None]
    v = base[labels][:, :, None, None] + amp[labels][:, :, None, None] * np.sin(t)[:, None] + noise * r.standard_normal((n, c, h, w))
    return torch.from_numpy(np.clip(v, 0, 1).astype(np.float32)), torch.from_numpy(labels.astype(np.int64))


def load_job_data(job, root, split):
    if job["dataset"] == "synthetic":
        return synthetic(split, SYNTHETIC_SIZES[split])
    return load(root, split)


class ConvNet(nn.Module):
    def __init__(self, width=16, act="silu"):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc1 = nn.Linear(2 * width * 49, 128)
        self.fc2 = nn.Linear(128, 10)
        self.act = F.silu if act == "silu" else F.relu

    def forward(self, x):
        x = F.max_pool2d(self.act(self.conv1(x)), 2)
        x = F.max_pool2d(self.act(self.conv2(x)), 2)
        return self.fc2(self.act(self.fc1(x.flatten(1))))


def trades_point(model, x, eps, alpha, steps):
    model.eval()
    with torch.no_grad():
        p_nat = F.softmax(model(x), dim=1)
    x_adv = (x + 0.001 * torch.randn_like(x)).detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_nat, reduction="sum")
        g, = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    model.train()
    return x_adv.detach()


def pgd(model, x, y, eps, alpha, steps):
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def build_model(job):
    name = job["model"]
    if name.startswith("convnet-"):
        return ConvNet(width=int(name.split("-")[1]), act=job["activation"])
    return PreActResNet18(width=int(name.split("-")[1]) if "-" in name else 64)


class Normalized(nn.Module):
    """CIFAR's per-channel normalisation as the model's first layer, as robustgpu's models on 32x32 colour images."""

    def __init__(self, model, device):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1))

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


def crop_flip(x):
    """Random crop with zero padding 4 and a horizontal flip, per image, on the batch's device."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), device=x.device)
    dx = torch.randint(0, 9, (n,), device=x.device)
    rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 8)
    out = padded.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    out = out.gather(3, cols)
    flip = torch.rand(n, device=x.device) < 0.5
    return torch.where(flip.view(n, 1, 1, 1), out.flip(3), out)


def accuracy(model, x, y, eps, steps, batch):
    """Clean and PGD-steps accuracy. As robustgpu's evaluate (and AutoAttack), only the clean-correct examples are
    attacked, gathered into full batches: a misclassified one is not robust whatever the attack does."""
    with torch.no_grad():
        ok = torch.cat([model(x[s:s + batch]).argmax(1) == y[s:s + batch] for s in range(0, len(x), batch)])
    xs, ys = x[ok], y[ok]
    robust = 0
    for s in range(0, len(xs), batch):
        xb, yb = xs[s:s + batch], ys[s:s + batch]
        xa = pgd(model, xb, yb, eps, 2.5 * eps / steps, steps)
        with torch.no_grad():
            robust += (model(xa).argmax(1) == yb).sum().item()
    return ok.sum().item() / len(x), robust / len(x)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_job(job, data_dir, device, max_steps=0, held_eval=True, checks=True, checkpoints=True):
    t_start = time.perf_counter()
    beta, eval_batch = 6.0, max(job["batch"], 250)
    eps, batch = job["eps"], job["batch"]
    torch.manual_seed(0)
    xtr, ytr = load_job_data(job, data_dir, "train")
    if job["train_limit"]:
        xtr, ytr = xtr[:job["train_limit"]], ytr[:job["train_limit"]]
    xte, yte = load_job_data(job, data_dir, "test")
    if job["final_n"]:
        xte, yte = xte[:job["final_n"]], yte[:job["final_n"]]
    xtr, ytr, xte, yte = xtr.to(device), ytr.to(device), xte.to(device), yte.to(device)
    perm = torch.randperm(len(xtr), device=device)
    held_idx, train_idx = perm[:job["held_out"]], perm[job["held_out"]:]
    colour = xtr.shape[1] == 3
    model = build_model(job).to(device)
    if colour:
        model = Normalized(model, device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    steps = len(train_idx) // batch
    if max_steps:
        steps = min(steps, max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    order = train_idx[torch.randperm(len(train_idx), device=device)]
    sync(device)
    t0 = time.perf_counter()
    model.train()
    for s in range(steps):
        i = order[s * batch:(s + 1) * batch]
        x, y = xtr[i], ytr[i]
        if colour:
            x = crop_flip(x)
        x_adv = trades_point(model, x, eps, eps / 4, 5)
        logits = model(x)
        loss = F.cross_entropy(logits, y) + beta * F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    loss_last = float(loss)
    sync(device)
    train_s = time.perf_counter() - t0
    model.eval()
    if held_eval and job["eval_n"]:
        hx, hy = xtr[held_idx[:job["eval_n"]]], ytr[held_idx[:job["eval_n"]]]
        accuracy(model, hx, hy, eps, 10, eval_batch)
    if checkpoints:
        with tempfile.TemporaryDirectory() as d:
            for name in ("best", "last"):
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, os.path.join(d, f"{name}.pt"))
    sync(device)
    t1 = time.perf_counter()
    clean, robust = accuracy(model, xte, yte, eps, 20, eval_batch)
    if checks:
        m = min(500, len(xte))
        with torch.no_grad():
            ok = model(xte[:m]).argmax(1) == yte[:m]
        cx, cy = xte[:m][ok], yte[:m][ok]
        for e, k, alpha in ((eps / 2, 20, None), (eps, 20, None), (eps, 5, 2.5 * eps / 20), (0.5, 40, None)):
            for s in range(0, len(cx), eval_batch):
                pgd(model, cx[s:s + eval_batch], cy[s:s + eval_batch], e, alpha or 2.5 * e / k, k)
    sync(device)
    t_end = time.perf_counter()
    eval_s = t_end - t1
    return {"name": job["name"], "steps": steps, "train_seconds": round(train_s, 1), "train_images_per_s": round(steps * batch / train_s, 1),
            "eval_seconds": round(eval_s, 1), "total_seconds": round(t_end - t_start, 2), "images_per_s": round(steps * batch / (t_end - t_start), 1),
            "clean": clean, "pgd20": robust, "loss_last": loss_last}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--data", default=os.environ.get("ROBUSTGPU_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--activation", default="silu")
    ap.add_argument("--eval-n", type=int, default=10000)
    ap.add_argument("--bench", choices=sorted(JOBS), help="run the bench's jobs of this mode and write --out")
    ap.add_argument("--filter", default="", help="with --bench: comma-separated substrings of the job names")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", help="with --bench: the reference JSON to write")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    if not a.bench:
        job = {"name": "npm start", "model": "convnet-16", "activation": a.activation, "dataset": "fashion-mnist", "batch": 128, "eps": 0.1,
               "train_limit": None, "held_out": 1000, "eval_n": 0, "final_n": a.eval_n}
        torch.set_num_threads(a.threads)
        r = run_job(job, a.data, dev, max_steps=a.max_steps, held_eval=False, checks=False, checkpoints=False)
        print(json.dumps({"torch": torch.__version__, "threads": a.threads, **{k: v for k, v in r.items() if k not in ("name", "total_seconds", "images_per_s")}}))
        return
    if not a.out:
        ap.error("--bench needs --out FILE")
    filters = [f.strip().lower() for f in a.filter.split(",") if f.strip()]
    rows = []
    for job in JOBS[a.bench]:
        if filters and not any(f in f"epoch {job['name']}".lower() for f in filters):
            continue
        torch.set_num_threads(a.threads)
        r = run_job(job, a.data, dev)
        print(json.dumps(r), flush=True)
        rows.append({"suite": "epoch", "name": job["name"], "medianMs": 1e3 * r["total_seconds"], "imagesPerSec": r["images_per_s"],
                     "notes": f"training {r['train_seconds']} s ({r['train_images_per_s']} img/s), final evaluation {r['eval_seconds']} s"})
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    doc = {
        "engine": f"PyTorch {torch.__version__}", "device": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "precision": "float32, TF32 off", "timing": f"wall clock of the whole job (CUDA synchronised), threads: {torch.get_num_threads()}",
        "reps": 1, "rows": rows,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"torch_epoch: {len(rows)} rows on {name} ({doc['engine']}) -> {a.out}")


if __name__ == "__main__":
    main()
