#!/usr/bin/env bash
# The kernel-variant measurement on a GPU in one command: tune a model's matmul and conv2d shape classes (every
# tile that fits against the register-blocked default, GPU timestamps), then bench the same layers with the
# register-blocked kernels forced, with a tile forced, and with the tuned choices, and one training step with
# Dawn's speed toggles off and on. For a session lent a GPU through the device tool, from the project root:
#   npm ci && npx tsc -p tsconfig.json && ../shared/gpu/pack.sh
#   run(carry: [".devpack", "dist"], command: "bash .devpack/enter.sh bash bench/gpu_tune.sh", timeout_s: 540)
# Results land in $OUT: info.txt, tune.json (the cache: every candidate's median ms per class), tune.txt,
# bench-{default,tiled,tuned}.txt, step-{plain,fast}.txt. MODEL, BATCH, TILE and FILTER change what is run;
# STEP_FILTER the step rows. Each part has its own time limit (LIMIT seconds, default 150), so one slow part
# leaves the others' results.
set -uo pipefail
out=${OUT:-/tmp/robustgpu-gpu}
mkdir -p "$out"
export ROBUSTGPU_TUNE_CACHE="$out/tune.json"
model=${MODEL:-preact_resnet18}
batch=${BATCH:-128}
tile=${TILE:-tiled 128x128 k16}
filter=${FILTER:-matmul,conv2d resnet18 b128}
step=${STEP_FILTER:-step preact_resnet18 b128 standard}
limit=${LIMIT:-150}
rg() { timeout "$limit" node dist/bin/robustgpu.js "$@"; }
rg info > "$out/info.txt" 2>&1
rg tune "$model" --batch "$batch" --full > "$out/tune.txt" 2> "$out/tune.progress"
rg bench --no-peers --filter "$filter" --kernel default > "$out/bench-default.txt" 2> "$out/bench-default.progress"
rg bench --no-peers --filter "$filter" --kernel "$tile" > "$out/bench-tiled.txt" 2> "$out/bench-tiled.progress"
rg bench --no-peers --filter "$filter" > "$out/bench-tuned.txt" 2> "$out/bench-tuned.progress"
rg bench --no-peers --filter "$step" > "$out/step-plain.txt" 2> "$out/step-plain.progress"
rg bench --no-peers --filter "$step" --fast > "$out/step-fast.txt" 2> "$out/step-fast.progress"
rg info >> "$out/info.txt" 2>&1
tail -n 3 "$out"/*.txt
