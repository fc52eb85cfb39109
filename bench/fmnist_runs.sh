#!/usr/bin/env bash
# Fashion-MNIST training runs for bench/RESULTS.md (issue 12): ConvNet-16, one epoch each at L-inf eps 0.1,
# the objectives and activations side by side, then W-TRADES fine-tuning of the TRADES (SiLU) model next to a
# control (the same extra epoch of plain TRADES), over two seeds. Each run's final evaluation is clean and
# PGD-20 on the 10k test images (the `evaluate` of `robustgpu eval`); the W-TRADES models, their controls and
# their base are then evaluated with `robustgpu eval` on the first 1000 test images (clean, PGD-20, and the
# distributional rows at W_2 budgets eps/2 and eps). Part 'soups' soups the fine-tunes of the seed-0 TRADES
# base (a clean-leaning standard fine-tune of 2 epochs with its epoch snapshots, the TRADES control, the
# W-TRADES model, the base itself); part 'aa' adds AutoAttack (standard): on the first 1000 test images for the
# standard model and the TRADES base, on the first AA_N (200) for the other ingredients and every soup.
# Parts run in the order given, most needed first.
#   bash bench/fmnist_runs.sh [OUT_DIR] [PART...]
#   parts: core soups aa base seed1 anchor (default: all, in that order)
# About 10 minutes per run on 2 CPU cores through lavapipe; any run already finished (eval.json) is skipped.
set -uo pipefail  # no -e: a failed run is reported and the independent ones still run
cd "$(dirname "$0")/.."
out=${1:-runs/bench}
shift || true
parts=${*:-core soups aa base seed1 anchor}
rg() { node dist/bin/robustgpu.js "$@"; }
aa_n=${AA_N:-200}
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
  echo "== $name: robustgpu eval (1000, distributional)"
  rg eval "$out/$name/checkpoints/last.safetensors" --n 1000 --attacks clean,pgd,distributional --deltas 0.05,0.1 --skip-checks --json "$out/$name/eval1000.json" > "$out/$name.eval.log" 2>&1
}

evaluate_aa() { # NAME CHECKPOINT N
  local name=$1 ckpt=$2 n=$3
  [[ -f $out/aa/$name.json ]] && return
  mkdir -p "$out/aa"
  echo "== aa $name"
  local t0=$SECONDS
  rg eval "$ckpt" --n "$n" --attacks clean,pgd,autoattack --json "$out/aa/$name.json" > "$out/aa/$name.log" 2>&1 || { echo "aa $name failed: see $out/aa/$name.log"; return 1; }
  echo "aa $name: $((SECONDS - t0)) s" | tee -a "$out/times.txt"
}

wtrades() { # SEED
  local seed=$1 base=trades-silu-s$1
  [[ $seed == 0 ]] && base=trades-silu || run $base "${common[@]}" --objective trades --activation silu --seed $seed
  local init=$out/$base/checkpoints/last.safetensors
  run w-trades-s$seed --objective w-trades --init "$init" --epochs 1 --attack-steps 5 --lr 0.01 --seed $seed --log-every 50
  run control-s$seed --objective trades --init "$init" --epochs 1 --attack-steps 5 --lr 0.01 --seed $seed --log-every 50
  for n in $base w-trades-s$seed control-s$seed; do evaluate $n; done
}

ck() { echo "$out/$1/checkpoints/${2:-last}.safetensors"; }
ingredients() { echo "$(ck standard-ft epoch-1) $(ck standard-ft) $(ck trades-silu) $(ck control-s0) $(ck w-trades-s0)"; }
soups=(curve uniform greedy grid learned-model learned-layer)

mkdir -p "$out"
for part in $parts; do
  case $part in
    core)
      run trades-silu "${common[@]}" --objective trades --activation silu
      run standard "${common[@]}" --objective standard
      run standard-ft --objective standard --init "$(ck trades-silu)" --epochs 2 --snapshot-every 1 --lr 0.01 --log-every 50
      wtrades 0
      ;;
    soups)
      read -r -a ing <<< "$(ingredients)"
      soupopts=(--held-out 500 --test-n 1000 --pgd-steps 10)
      soup() { # NAME METHOD INGREDIENTS... -- options
        local name=$1 method=$2; shift 2
        [[ -f $out/soup-$name/soup.json ]] && return
        echo "== soup-$name: robustgpu soup $method $*"
        local t0=$SECONDS
        rg soup "$method" "$@" --out "$out/soup-$name" > "$out/soup-$name.log" 2>&1 || { echo "soup-$name failed: see $out/soup-$name.log"; return 1; }
        echo "soup-$name: $((SECONDS - t0)) s" | tee -a "$out/times.txt"
      }
      # the curve and the grid run between the clean-leaning and the robust-leaning fine-tune
      soup curve curve "${ing[1]}" "${ing[3]}" "${soupopts[@]}"
      soup grid grid "${ing[1]}" "${ing[3]}" "${soupopts[@]}"
      soup uniform uniform "${ing[@]}" "${soupopts[@]}"
      soup greedy greedy "${ing[@]}" "${soupopts[@]}"
      soup learned-model learned "${ing[@]}" "${soupopts[@]}" --steps 100
      soup learned-layer learned "${ing[@]}" "${soupopts[@]}" --steps 100 --granularity layer
      ;;
    aa)
      # the TRADES base on 1000 images is also the AutoAttack timing of issue 11; the rest on AA_N images
      evaluate_aa standard "$(ck standard)" 1000
      evaluate_aa trades-silu "$(ck trades-silu)" 1000
      evaluate_aa standard-ft-e1 "$(ck standard-ft epoch-1)" "$aa_n"
      evaluate_aa standard-ft "$(ck standard-ft)" "$aa_n"
      evaluate_aa control-s0 "$(ck control-s0)" "$aa_n"
      evaluate_aa w-trades-s0 "$(ck w-trades-s0)" "$aa_n"
      for s in grid uniform greedy learned-model learned-layer; do
        [[ -f $out/soup-$s/soup.safetensors ]] && evaluate_aa soup-$s "$out/soup-$s/soup.safetensors" "$aa_n"
      done
      ;;
    base)
      run pgd-at "${common[@]}" --objective pgd-at
      run trades-relu "${common[@]}" --objective trades
      run trades-softplus "${common[@]}" --objective trades --activation softplus:10
      run trades-gelu "${common[@]}" --objective trades --activation gelu
      run trades-smoothgrad "${common[@]}" --objective trades --smooth-backward both
      run trades-elu "${common[@]}" --objective trades --activation elu
      run trades-mish "${common[@]}" --objective trades --activation mish
      run trades-smoothrelu "${common[@]}" --objective trades --activation smoothrelu
      run trades-psoftplus "${common[@]}" --objective trades --activation psoftplus
      ;;
    seed1)
      wtrades 1
      # second seeds of the two best activations of part base
      run trades-relu-s1 "${common[@]}" --objective trades --seed 1
      run trades-smoothrelu-s1 "${common[@]}" --objective trades --activation smoothrelu --seed 1
      ;;
    anchor)
      # Against METHODS §9.3's numpy MLP (PGD-AT, 8 epochs: 77.9% clean, 64.9% PGD-20): the same objective, and
      # the TRADES job of npm start, for 3 epochs
      run pgd-at-3ep --model convnet-16 --epochs 3 --attack-steps 5 --log-every 50 --objective pgd-at
      run trades-silu-3ep --model convnet-16 --epochs 3 --attack-steps 5 --log-every 50 --objective trades --activation silu
      ;;
    *) echo "unknown part '$part' (core, soups, aa, base, seed1, anchor)"; exit 2 ;;
  esac
done
echo "results in $out (times.txt, */eval.json, */eval1000.json, soup-*/soup.json, aa/*.json)"
