#!/usr/bin/env bash
# The NVIDIA-GPU measurement in one command: PyTorch's float32 (TF32 off) timings of the bench's rows (and AMP for the
# f16-mixed step rows), then
# the full robustgpu bench (peers included) joined to them ('of ref': our throughput as a fraction of PyTorch's
# on the same card, in the same run). For a session lent a GPU through the device tool, from the project root:
#   npm ci && npx tsc -p tsconfig.json && ../shared/gpu/pack.sh
#   run(carry: [".devpack", "dist"], command: "bash .devpack/enter.sh bash bench/gpu_run.sh")
# Results land in $OUT (torch.json, bench.json, bench.txt, torch_memory.txt, memory_peak.txt, logs); copy bench.txt
# and the two memory tables into bench/RESULTS.md with the card's name. PYTHON picks the interpreter (default
# python3). TORCH_ARGS and BENCH_ARGS add options (e.g. a --filter to split the run across two calls);
# SKIP_MEMORY=1 skips the peak-memory step. Suite 'epoch''s Fashion-MNIST job needs the data there: copy
# /usr/share/datasets/fashion-mnist to data/fashion-mnist and carry 'data' too (found below), or it is skipped.
set -euo pipefail
out=${OUT:-/tmp/robustgpu-gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if [ -z "${ROBUSTGPU_FASHION_MNIST:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ] && [ -d data/fashion-mnist ]; then
  export ROBUSTGPU_FASHION_MNIST=$PWD/data/fashion-mnist
fi
# WebGPU reports no memory size: tell the engine the card's (90% of it), so that its pool keeps a big step's buffers.
if [ -z "${ROBUSTGPU_MEMORY_BUDGET:-}" ] && command -v nvidia-smi > /dev/null; then
  mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -n 1 | tr -dc 0-9)
  if [ -n "$mib" ]; then export ROBUSTGPU_MEMORY_BUDGET="$((mib * 9 / 10))M"; fi
fi
# shellcheck disable=SC2086  # the ARGS variables hold several words on purpose
"${PYTHON:-python3}" bench/torch/torch_bench.py --out "$out/torch.json" ${TORCH_ARGS:-} 2>&1 | tee "$out/torch.log"
node dist/bin/robustgpu.js info > "$out/info.txt" 2>&1
# shellcheck disable=SC2086
node dist/bin/robustgpu.js bench --against "$out/torch.json" --json-out "$out/bench.json" ${BENCH_ARGS:-} 2> "$out/bench.progress" | tee "$out/bench.txt"
# Peak memory of one TRADES-10 step at batch 128, PyTorch's (max_memory_allocated / _reserved) and ours (in use / held).
if [ -z "${SKIP_MEMORY:-}" ]; then
  "${PYTHON:-python3}" bench/torch/torch_memory.py --out "$out/torch_memory.json" 2>&1 | tee "$out/torch_memory.txt"
  node dist/bench/memory_peak_main.js 2> "$out/memory_peak.progress" | tee "$out/memory_peak.txt"
fi
