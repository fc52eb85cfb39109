#!/usr/bin/env bash
# Fashion-MNIST training runs for bench/RESULTS.md (issue 12): ConvNet-16, one epoch each at L-inf eps 0.1,
# the objectives and activations side by side, then W-TRADES fine-tuning of the TRADES (SiLU) model next to a
# control (the same extra epoch of plain TRADES), over two seeds. Each run's final evaluation is clean and
# PGD-20 on the 10k test images (the `evaluate` of `robustgpu eval`); the W-TRADES models, their controls and
# their base are then evaluated with `robustgpu eval` on the first 1000 test images (clean, PGD-20, and the
# distributional rows at W_2 budgets eps/2 and eps). Part 'soups' soups the seed-0 fine-tunes of the TRADES
# base (a clean-leaning standard fine-tune, the TRADES control, the W-TRADES model).
#   bash bench/fmnist_runs.sh [OUT_DIR] [PART...]     parts: base wtrades soups (default: all)
# About 10 minutes per run on 2 CPU cores through lavapipe; any run already finished (eval.json) is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bench}
shift || true
parts=${*:-base wtrades soups}
rg() { node dist/bin/robustgpu.js "$@"; }
common=(--model convnet-16 --epochs 1 --attack-steps 5 --log-every 50)

run() { # NAME train options...
  local name=$1; shift
  if [[ -f $out/$name/eval.json ]]; then echo "== $name: done already"; return; fi
  rm -rf "$out/$name"
  echo "== $name: robustgpu train $*"
  local t0=$SECONDS
  rg train "$@" --out "$out/$name" > "$out/$name.log" 2>&1 || { echo "$name failed: see $out/$name.log"; return 1; }
  echo "$name: $((SECONDS - t0)) s" | tee -a "$out/times.txt"
}

evaluate() { # NAME
  local name=$1
  [[ -f $out/$name/eval1000.json ]] && return
  rg eval "$out/$name/checkpoints/last.safetensors" --n 1000 --attacks clean,pgd,distributional --deltas 0.05,0.1 --skip-checks --json "$out/$name/eval1000.json" > "$out/$name.eval.log" 2>&1
}

mkdir -p "$out"
for part in $parts; do
  case $part in
    base)
      run standard "${common[@]}" --objective standard
      run pgd-at "${common[@]}" --objective pgd-at
      run trades-relu "${common[@]}" --objective trades
      run trades-silu "${common[@]}" --objective trades --activation silu
      run trades-softplus "${common[@]}" --objective trades --activation softplus:10
      run trades-gelu "${common[@]}" --objective trades --activation gelu
      run trades-smoothgrad "${common[@]}" --objective trades --smooth-backward both
      ;;
    wtrades)
      for seed in 0 1; do
        base=trades-silu-s$seed
        [[ $seed == 0 ]] && base=trades-silu || run $base "${common[@]}" --objective trades --activation silu --seed $seed
        init=$out/$base/checkpoints/last.safetensors
        run w-trades-s$seed --objective w-trades --init "$init" --epochs 1 --attack-steps 5 --lr 0.01 --seed $seed --log-every 50
        run control-s$seed --objective trades --init "$init" --epochs 1 --attack-steps 5 --lr 0.01 --seed $seed --log-every 50
        for n in $base w-trades-s$seed control-s$seed; do evaluate $n; done
      done
      ;;
    soups)
      base=$out/trades-silu/checkpoints/last.safetensors
      run standard-ft --objective standard --init "$base" --epochs 1 --lr 0.01 --log-every 50
      ing=("$out/standard-ft/checkpoints/last.safetensors" "$out/control-s0/checkpoints/last.safetensors" "$out/w-trades-s0/checkpoints/last.safetensors")
      soupopts=(--held-out 500 --test-n 1000 --pgd-steps 10)
      soup() { # NAME METHOD INGREDIENTS... -- options
        local name=$1 method=$2; shift 2
        [[ -f $out/soup-$name/soup.json ]] && return
        echo "== soup-$name: robustgpu soup $method $*"
        local t0=$SECONDS
        rg soup "$method" "$@" --out "$out/soup-$name" > "$out/soup-$name.log" 2>&1 || { echo "soup-$name failed: see $out/soup-$name.log"; return 1; }
        echo "soup-$name: $((SECONDS - t0)) s" | tee -a "$out/times.txt"
      }
      soup curve curve "${ing[0]}" "${ing[1]}" "${soupopts[@]}"
      soup uniform uniform "${ing[@]}" "${soupopts[@]}"
      soup greedy greedy "${ing[@]}" "${soupopts[@]}"
      soup grid grid "${ing[0]}" "${ing[1]}" "${soupopts[@]}"
      soup learned-model learned "${ing[@]}" "${soupopts[@]}" --steps 100
      soup learned-layer learned "${ing[@]}" "${soupopts[@]}" --steps 100 --granularity layer
      ;;
    *) echo "unknown part '$part' (base, wtrades, soups)"; exit 2 ;;
  esac
done
echo "results in $out (times.txt, */eval.json, */eval1000.json, soup-*/soup.json)"
