#!/usr/bin/env python3
"""The job of `npm start` written in PyTorch, for a side-by-side wall time on the same machine.

TRADES (beta 6, KL inner attack: 5 steps of eps/4 from x + 0.001 N(0,1), BN in eval mode) of ConvNet-16
(conv 1->16 3x3 pad 1, act, max-pool 2, conv 16->32, act, max-pool 2, fc 1568->128, act, fc 128->10) with SiLU,
one epoch of the Fashion-MNIST training images minus a 1,000-image held-out split, batch 128, SGD lr 0.05
momentum 0.9 weight decay 5e-4, cosine per step; then clean and PGD-20 (step 2.5 eps / 20, uniform random
start) on the 10k test images. The data pipeline is in memory, shuffled per epoch, as robustgpu's loader.
Prints one JSON line: training images/s, seconds of each phase, accuracies.

Usage: /usr/bin/python3 bench/torch/torch_epoch.py [--threads N] [--data DIR] [--max-steps N] [--eval-n N] [--activation silu|relu]
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--data", default=os.environ.get("ROBUSTGPU_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--activation", default="silu")
    ap.add_argument("--eval-n", type=int, default=10000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    eps, beta, batch = 0.1, 6.0, 128
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "test")
    xte, yte = xte[:a.eval_n], yte[:a.eval_n]
    perm = torch.randperm(len(xtr))
    train_idx = perm[1000:]
    model = ConvNet(act=a.activation)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    steps = len(train_idx) // batch
    if a.max_steps:
        steps = min(steps, a.max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    order = train_idx[torch.randperm(len(train_idx))]
    t0 = time.perf_counter()
    for s in range(steps):
        i = order[s * batch:(s + 1) * batch]
        x, y = xtr[i], ytr[i]
        x_adv = trades_point(model, x, eps, eps / 4, 5)
        logits = model(x)
        loss = F.cross_entropy(logits, y) + beta * F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    train_s = time.perf_counter() - t0
    model.eval()
    t1 = time.perf_counter()
    clean = robust = 0
    for s in range(0, len(xte), 250):
        x, y = xte[s:s + 250], yte[s:s + 250]
        with torch.no_grad():
            ok = model(x).argmax(1) == y
        xa = pgd(model, x, y, eps, 2.5 * eps / 20, 20)
        with torch.no_grad():
            robust += (ok & (model(xa).argmax(1) == y)).sum().item()
        clean += ok.sum().item()
    eval_s = time.perf_counter() - t1
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "steps": steps, "train_seconds": round(train_s, 1),
                      "train_images_per_s": round(steps * batch / train_s, 1), "eval_seconds": round(eval_s, 1),
                      "clean": clean / len(xte), "pgd20": robust / len(xte), "loss_last": float(loss)}))


if __name__ == "__main__":
    main()
