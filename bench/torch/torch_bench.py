#!/usr/bin/env python3
"""PyTorch float32 reference timings for `robustgpu bench --against FILE`.

Runs the workloads of robustgpu's suites under the same row names (suite + name), so that the bench can
report each of its rows as a fraction of PyTorch's throughput on the same card:
  matmul    square GEMMs 256, 512, 1024 (suite 'matmul', names '256', ...);
  conv2d    every distinct ResNet-18 and WRN-28-10 CIFAR convolution at batch 32 and 128: forward, input
            gradient (dx) and weight gradient (dw), each timed alone (torch.nn.grad's conv2d_input/weight);
  step      PreAct ResNet-18 and WRN-28-10 at batch 128: a PGD-10 attack alone, a standard step, a PGD-AT step
            (Madry: eps 8/255, step 2/255, 10 steps, random start, BN in eval mode during the attack, SGD with
            momentum 0.9 and weight decay 5e-4), and a TRADES-10 step (beta 6), as bench/steps.ts does;
  attack    bench/attacks.ts's rows: ConvNet-16 (ReLU; bench/torch/torch_epoch.py's) and PreAct ResNet-18 with
            random weights in eval mode, L-inf eps 0.1 (grey) / 8/255 (colour): evaluation PGD-20 (step 2.5 eps/20,
            uniform start, CE, worst case over the iterates) and APGD-CE-100 (one run of fra31/auto-attack's
            APGDAttack, written out below), batch 128 (quick: batch 32 and a width-16 PreAct-18 at batch 8,
            PGD-10 and APGD-CE-20). Square and the AutoAttack row are ours only (the autoattack package is not used);
  epoch     bench/epoch.ts's whole training jobs (torch_epoch.py's JOBS and run_job), each timed once.
float32 with TF32 off (torch.backends.*.allow_tf32 = False), cuDNN benchmark mode on, channels-first.
Timing: CUDA events around each repetition on a GPU (wall clock on the CPU), median after warm-up runs.

Usage:  python3 bench/torch/torch_bench.py [--device cuda|cpu] [--quick] [--reps N] [--filter TEXT] [--threads N] --out FILE
On the GPU machines the plain `python3` holds PyTorch; see bench/gpu_run.sh. --quick takes batch-8 convs and
width-16 / WRN-16-4 steps at batch 8 (the bench's quick mode), small enough for a CPU check.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# make_model_fixtures pins torch to one thread (for its deterministic fixtures); the timings use the default.
DEFAULT_THREADS = torch.get_num_threads()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from make_model_fixtures import PreActResNet18, WideResNet  # noqa: E402  (the reference architectures)
from torch_epoch import ConvNet, JOBS, run_job  # noqa: E402  (ConvNet-16, as npm start trains it; the epoch jobs)


def resnet_layers(stem, widths, strides):
    """The distinct convolutions of a CIFAR ResNet, as bench/conv2d.ts lists them (same order, same names)."""
    out = [(3, stem, 32, 3, 1)]
    c, h = stem, 32
    for o, s in zip(widths, strides):
        out.append((c, o, h, 3, s))
        if s != 1 or c != o:
            out.append((c, o, h, 1, s))
        h //= s
        out.append((o, o, h, 3, 1))
        c = o
    seen, uniq = set(), []
    for l in out:
        if l not in seen:
            seen.add(l)
            uniq.append(l)
    return uniq


RESNET18 = resnet_layers(64, [64, 128, 256, 512], [1, 2, 2, 2])
WRN28_10 = resnet_layers(16, [160, 320, 640], [1, 2, 2])


def conv_name(model, n, c, o, h, k, s):
    return f"{model} b{n} {k}x{k} {c}->{o} {h}x{h}" + (f" s{s}" if s > 1 else "")


class Timer:
    def __init__(self, device, reps, warmup):
        self.device, self.reps, self.warmup = device, reps, warmup

    def median_ms(self, fn):
        for _ in range(self.warmup):
            fn()
        times = []
        for _ in range(self.reps):
            if self.device.type == "cuda":
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                torch.cuda.synchronize()
                times.append(a.elapsed_time(b))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def bench_matmul(t, dev, rows):
    for n in (256, 512, 1024):
        a, b = torch.rand(n, n, device=dev), torch.rand(n, n, device=dev)
        ms = t.median_ms(lambda: torch.mm(a, b))
        rows.append({"suite": "matmul", "name": str(n), "medianMs": ms, "gflops": 2 * n**3 / ms / 1e6})


def bench_conv(t, dev, rows, batches, wanted):
    for n in batches:
        for model, layers in (("resnet18", RESNET18), ("wrn28-10", WRN28_10)):
            for (c, o, h, k, s) in layers:
                base = conv_name(model, n, c, o, h, k, s)
                if not wanted(f"conv2d {base}"):
                    continue
                p = 1 if k == 3 else 0
                x = torch.rand(n, c, h, h, device=dev)
                w = torch.rand(o, c, k, k, device=dev) - 0.5
                y = F.conv2d(x, w, stride=s, padding=p)
                gy = torch.rand_like(y)
                flops = 2 * n * o * y.shape[2] * y.shape[3] * c * k * k
                passes = {
                    "fwd": lambda: F.conv2d(x, w, stride=s, padding=p),
                    "dx": lambda: torch.nn.grad.conv2d_input(x.shape, w, gy, stride=s, padding=p),
                    "dw": lambda: torch.nn.grad.conv2d_weight(x, w.shape, gy, stride=s, padding=p),
                }
                for pas, fn in passes.items():
                    ms = t.median_ms(fn)
                    rows.append({"suite": "conv2d", "name": f"{base} {pas}", "medianMs": ms, "gflops": flops / ms / 1e6})


def pgd(model, x, y, eps, alpha, steps):
    """PGD-Linf from a uniform random start; the model's BN layers in eval mode; no parameter gradients."""
    was = model.training
    model.eval()
    delta = (torch.rand_like(x) * 2 - 1) * eps
    adv = (x + delta).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (g,) = torch.autograd.grad(loss, [adv])
        adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    model.train(was)
    return adv.detach()


def trades_adv(model, x, eps, alpha, steps):
    was = model.training
    model.eval()
    with torch.no_grad():
        p_nat = F.softmax(model(x), dim=1)
    adv = x + 0.001 * torch.randn_like(x)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(model(adv), dim=1), p_nat, reduction="sum")
        (g,) = torch.autograd.grad(loss, [adv])
        adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    model.train(was)
    return adv.detach()


def bench_steps(t, dev, rows, configs, wanted):
    eps, alpha = 8 / 255, 2 / 255
    for name, build, batch in configs:
        # AMP rows (fp16 autocast, no GradScaler, as bench/steps.ts's f16-mixed rows scale no loss) on CUDA only
        half = ("standard f16-mixed", "pgd-at-10 f16-mixed", "trades-10 f16-mixed") if dev.type == "cuda" else ()
        kinds = [k for k in ("pgd-10 attack", "standard", "pgd-at-10", "trades-10", *half) if wanted(f"step {name} {k}")]
        if not kinds:
            continue
        model = build().to(dev).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.rand(batch, 3, 32, 32, device=dev)
        y = torch.arange(batch, device=dev) * 7 % 10

        def update(loss_fn):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            opt.step()

        def trades_loss():
            adv = trades_adv(model, x, eps, alpha, 10)
            nat = model(x)
            kl = F.kl_div(F.log_softmax(model(adv), dim=1), F.softmax(nat, dim=1), reduction="sum") / batch
            return F.cross_entropy(nat, y) + 6 * kl

        run = {
            "pgd-10 attack": lambda: pgd(model, x, y, eps, alpha, 10),
            "standard": lambda: update(lambda: F.cross_entropy(model(x), y)),
            "pgd-at-10": lambda: update(lambda: F.cross_entropy(model(pgd(model, x, y, eps, alpha, 10)), y)),
            "trades-10": lambda: update(trades_loss),
        }

        def amp(kind):
            def step():
                with torch.autocast(device_type="cuda", dtype=torch.float16):
                    run[kind]()
            return step

        for k in half:
            run[k] = amp(k.removesuffix(" f16-mixed"))
        for k in kinds:
            ms = t.median_ms(run[k])
            rows.append({"suite": "step", "name": f"{name} {k}", "medianMs": ms, "imagesPerSec": batch / ms * 1e3})


def pgd_eval(model, x, y, eps, alpha, steps):
    """Evaluation PGD as training/attacks/pgd.ts's pgd(): uniform start; every iterate (the start and the last
    included) judged, keeping per example a misclassified iterate, else the highest-loss one."""
    view = (-1,) + (1,) * (x.dim() - 1)
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    best = fooled = best_loss = None
    for k in range(steps + 1):
        last = k == steps
        adv.requires_grad_(not last)
        with torch.set_grad_enabled(not last):
            logits = model(adv)
            loss = F.cross_entropy(logits, y, reduction="none")
        if not last:
            (g,) = torch.autograd.grad(loss.sum(), [adv])
        adv, loss = adv.detach(), loss.detach()
        wrong = logits.detach().argmax(1) != y
        if best is None:
            best, fooled, best_loss = adv.clone(), wrong, loss
        else:
            take = ~fooled & (wrong | (loss > best_loss))
            best = torch.where(take.view(view), adv, best)
            fooled, best_loss = fooled | wrong, torch.max(best_loss, loss)
        if not last:
            adv = torch.min(torch.max(adv + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return best, fooled


def apgd_checkpoints(n):
    """The iterations (0-based) after which APGD checks, with the window length: autopgd_base.py's n_iter_2,
    size_decr and n_iter_min (bench/attacks.ts runs training/attacks/apgd.ts's apgdCheckpoints, the same)."""
    k, k_min, decr = max(int(0.22 * n), 1), max(int(0.06 * n), 1), max(int(0.03 * n), 1)
    out, counter = {}, 0
    for i in range(n):
        counter += 1
        if counter == k:
            out[i] = k
            k, counter = max(k - decr, k_min), 0
    return out


def apgd_ce(model, x, y, eps, n_iter, rho=0.75):
    """APGD-CE, L-inf, one run: fra31/auto-attack's APGDAttack.attack_single_run (METHODS §1.3). Step 2 eps per
    example; the step then the momentum step (0.75; 1 on the first iteration), each projected; at a checkpoint an
    example's step is halved and it goes back to its best point (and gradient) if its loss rose in at most
    rho of the window's steps, or its step was not halved at the last checkpoint and its best loss did not
    improve. The oscillation count compares the first step with 0, as the reference reads its unwritten last
    row of loss_steps. Index assignments are written as torch.where (the same values, and no host sync).
    Returns the best-loss points, the still-correct mask and the last misclassified points."""
    view = (-1,) + (1,) * (x.dim() - 1)
    lo, hi = x - eps, x + eps

    def loss_grad(z):
        z = z.clone().requires_grad_(True)
        logits = model(z)
        loss = F.cross_entropy(logits, y, reduction="none")
        (g,) = torch.autograd.grad(loss.sum(), [z])
        return loss.detach(), logits.detach(), g.detach()

    t = 2 * torch.rand_like(x) - 1
    x_adv = (x + eps * t / (t.abs().flatten(1).max(1)[0].view(view) + 1e-12)).clamp(0, 1)
    loss, logits, grad = loss_grad(x_adv)
    acc = logits.argmax(1) == y
    x_best, x_best_adv, grad_best, loss_best = x_adv.clone(), x_adv.clone(), grad.clone(), loss.clone()
    step = torch.full((x.shape[0],) + view[1:], 2 * eps, device=x.device)
    x_old = x_adv.clone()
    loss_last_check, reduced_last = loss_best.clone(), torch.ones_like(loss)
    rises, prev = torch.zeros_like(loss), torch.zeros_like(loss)
    checks = apgd_checkpoints(n_iter)
    for i in range(n_iter):
        with torch.no_grad():
            a = 0.75 if i > 0 else 1.0
            z = torch.min(torch.max(x_adv + step * grad.sign(), lo), hi).clamp(0, 1)
            z = torch.min(torch.max(x_adv + (z - x_adv) * a + (x_adv - x_old) * (1 - a), lo), hi).clamp(0, 1)
            x_old, x_adv = x_adv, z
        loss, logits, grad = loss_grad(x_adv)
        with torch.no_grad():
            pred = logits.argmax(1) == y
            acc = acc & pred
            x_best_adv = torch.where((~pred).view(view), x_adv, x_best_adv)
            rises += (loss > prev).float()
            prev = loss
            better = loss > loss_best
            x_best = torch.where(better.view(view), x_adv, x_best)
            grad_best = torch.where(better.view(view), grad, grad_best)
            loss_best = torch.where(better, loss, loss_best)
            if i in checks:
                oscillating = (rises <= checks[i] * rho).float()
                no_improvement = (1 - reduced_last) * (loss_last_check >= loss_best).float()
                halve = torch.max(oscillating, no_improvement)
                reduced_last, loss_last_check = halve, loss_best.clone()
                back = halve.bool().view(view)
                step = torch.where(back, step / 2, step)
                x_adv = torch.where(back, x_best, x_adv)
                grad = torch.where(back, grad_best, grad)
                rises.zero_()
    return x_best, acc, loss_best, x_best_adv


def bench_attacks(t, dev, rows, quick, wanted):
    """bench/attacks.ts's PGD and APGD-CE rows (same names); throughput in images x iterations per second."""
    pgd_steps, apgd_steps = (10, 20) if quick else (20, 100)
    configs = [
        (f"convnet-16 b{32 if quick else 128}", lambda: ConvNet(width=16, act="relu"), 32 if quick else 128, (1, 28, 28), 0.1),
        ("preact_resnet18 w16 b8", lambda: PreActResNet18(width=16), 8, (3, 32, 32), 8 / 255) if quick else
        ("preact_resnet18 b128", lambda: PreActResNet18(), 128, (3, 32, 32), 8 / 255),
    ]
    for name, build, batch, shape, eps in configs:
        kinds = {
            f"{name} pgd-{pgd_steps}": (pgd_steps, lambda m, x, y: pgd_eval(m, x, y, eps, 2.5 * eps / pgd_steps, pgd_steps)),
            f"{name} apgd-ce-{apgd_steps}": (apgd_steps, lambda m, x, y: apgd_ce(m, x, y, eps, apgd_steps)),
        }
        kinds = {k: v for k, v in kinds.items() if wanted(f"attack {k}")}
        if not kinds:
            continue
        model = build().to(dev).eval()
        for p in model.parameters():
            p.requires_grad_(False)  # input gradients only, as ours
        x = torch.rand(batch, *shape, device=dev)
        y = torch.arange(batch, device=dev) * 7 % 10
        for row, (iters, run) in kinds.items():
            ms = t.median_ms(lambda: run(model, x, y))
            rows.append({"suite": "attack", "name": row, "medianMs": ms, "imagesPerSec": batch * iters / ms * 1e3})


def bench_epochs(dev, rows, quick, wanted):
    """Suite 'epoch': bench/epoch.ts's whole training jobs, once each (torch_epoch.py's run_job)."""
    data = os.environ.get("ROBUSTGPU_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
    for job in JOBS["quick" if quick else "full"]:
        if not wanted(f"epoch {job['name']}"):
            continue
        if job["dataset"] == "fashion-mnist" and not os.path.isdir(data):
            print(f"torch_bench: skipped epoch {job['name']}: no Fashion-MNIST in {data} (ROBUSTGPU_FASHION_MNIST)", file=sys.stderr)
            continue
        r = run_job(job, data, dev)
        rows.append({"suite": "epoch", "name": job["name"], "medianMs": 1e3 * r["total_seconds"], "imagesPerSec": r["images_per_s"],
                     "notes": f"training {r['train_seconds']} s ({r['train_images_per_s']} img/s), final evaluation {r['eval_seconds']} s"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--filter", default="", help="comma-separated substrings of 'suite name' (default: everything)")
    ap.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"CPU threads (default {DEFAULT_THREADS}, torch's)")
    ap.add_argument("--out", required=True, help="JSON file to write")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    filters = [f.strip().lower() for f in a.filter.split(",") if f.strip()]

    def wanted(key):
        return not filters or any(f in key.lower() for f in filters)

    reps = a.reps or (3 if a.quick else 10)
    t = Timer(dev, reps, warmup=2)
    rows = []
    if wanted("matmul"):
        bench_matmul(t, dev, rows)
    bench_conv(t, dev, rows, [8] if a.quick else [32, 128], wanted)
    steps = [
        ("preact_resnet18 w16 b8", lambda: PreActResNet18(width=16), 8), ("wrn-16-4 b8", lambda: WideResNet(depth=16, widen_factor=4), 8),
    ] if a.quick else [
        ("preact_resnet18 b128", lambda: PreActResNet18(), 128), ("wrn-28-10 b128", lambda: WideResNet(depth=28, widen_factor=10), 128),
    ]
    bench_steps(t, dev, rows, steps, wanted)
    # Whole attacks: one warm-up run and at most 3 timed ones unless --reps says otherwise, as the bench does.
    bench_attacks(Timer(dev, a.reps or (2 if a.quick else 3), warmup=1), dev, rows, a.quick, wanted)
    bench_epochs(dev, rows, a.quick, wanted)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    doc = {
        "engine": f"PyTorch {torch.__version__}", "device": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "precision": "float32, TF32 off", "timing": "CUDA events" if dev.type == "cuda" else f"wall clock, threads: {torch.get_num_threads()}",
        "reps": reps, "rows": rows,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"torch_bench: {len(rows)} rows on {name} ({doc['engine']}) -> {a.out}")


if __name__ == "__main__":
    main()
