#!/usr/bin/env python3
"""PyTorch's peak GPU memory for one TRADES step: the yardstick for bench/memory_peak.ts.

The step is the one bench/memory_peak.ts measures in robustgpu: from a fresh model and SGD optimizer (momentum 0.9,
weight decay 5e-4), CIFAR-shaped input, the TRADES attack (eps 8/255, step 2/255, K steps, BN in eval mode, from
x + 0.001 N(0, I)), then cross-entropy + 6 KL on the clean and adversarial forwards, backward, update.
On CUDA it prints torch.cuda.max_memory_allocated (tensors alive at the worst moment; compare robustgpu's 'in use')
and max_memory_reserved (what the caching allocator held; compare 'held'), float32 with TF32 off. On a CPU there is
no comparable figure (the host allocator's peak mixes in everything else), so the rows say n/a.

Usage:  python3 bench/torch/torch_memory.py [--model preact_resnet18,wrn-34-10] [--batch 128] [--attack-steps 10]
        [--device cuda|cpu] [--out FILE]
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from make_model_fixtures import PreActResNet18, WideResNet  # noqa: E402  (the reference architectures)
from torch_bench import trades_adv  # noqa: E402  (the same attack the timing rows use)

MODELS = {
    "preact_resnet18": lambda: PreActResNet18(),
    "wrn-28-10": lambda: WideResNet(depth=28, widen_factor=10),
    "wrn-34-10": lambda: WideResNet(depth=34, widen_factor=10),
    "wrn-16-4": lambda: WideResNet(depth=16, widen_factor=4),
}
MIB = 2**20


def trades_step(model, opt, x, y, steps):
    adv = trades_adv(model, x, 8 / 255, 2 / 255, steps)
    opt.zero_grad(set_to_none=True)
    nat = model(x)
    kl = F.kl_div(F.log_softmax(model(adv), dim=1), F.softmax(nat, dim=1), reduction="sum") / x.shape[0]
    loss = F.cross_entropy(nat, y) + 6 * kl
    loss.backward()
    opt.step()
    return loss.item()


def measure(name, batch, steps, dev):
    torch.manual_seed(0)
    model = MODELS[name]().to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(batch, 3, 32, 32, device=dev)
    y = torch.arange(batch, device=dev) * 7 % 10
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    loss = trades_step(model, opt, x, y, steps)
    seconds = time.perf_counter() - t0
    row = {"model": name, "batch": batch, "attackSteps": steps, "loss": loss, "seconds": seconds}
    if cuda:
        row["maxMemoryAllocated"] = torch.cuda.max_memory_allocated(dev)
        row["maxMemoryReserved"] = torch.cuda.max_memory_reserved(dev)
        row["afterBytes"] = torch.cuda.memory_allocated(dev)
    else:
        row["maxMemoryAllocated"] = row["maxMemoryReserved"] = None
    del model, opt, x, y
    if cuda:
        torch.cuda.empty_cache()
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="preact_resnet18,wrn-34-10")
    ap.add_argument("--batch", default="128")
    ap.add_argument("--attack-steps", default="10")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None, help="also write the rows as JSON to FILE")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    models = [m.strip() for m in a.model.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    batches = [int(b) for b in a.batch.split(",")]
    steps = [int(k) for k in a.attack_steps.split(",")]
    rows = [measure(m, b, k, dev) for m in models for b in batches for k in steps]
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"PyTorch {torch.__version__} on {name}, float32, TF32 off")
    for r in rows:
        label = f"{r['model']} b{r['batch']} TRADES-{r['attackSteps']}"
        if r["maxMemoryAllocated"] is None:
            print(f"{label}: n/a (CUDA only: torch.cuda.max_memory_allocated); step {r['seconds']:.1f} s, loss {r['loss']:.4f}")
        else:
            print(f"{label}: max_memory_allocated {r['maxMemoryAllocated'] / MIB:.1f} MiB, max_memory_reserved "
                  f"{r['maxMemoryReserved'] / MIB:.1f} MiB, after the step {r['afterBytes'] / MIB:.1f} MiB; step {r['seconds']:.2f} s")
    if a.out:
        doc = {"engine": f"PyTorch {torch.__version__}", "device": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
