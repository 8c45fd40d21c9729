#!/usr/bin/env bash
# Engine settings explored on the GPU machine (8B shape): W1 throughput under several step
# budgets and sequence limits, with per-step traces summarised (scripts/gpu/step-summary.mjs), and
# serving at a fixed rate under several prefill budgets (the ITL / TTFT trade-off).
#   bash scripts/gpu/explore-engine.sh OUT [RATE]
set -uo pipefail
out=${1:-/tmp/out}
rate=${2:-25}
cli="node dist/cli/main.js"
dummy="--load-format dummy --model ${PRESET:-llama-3-8b} --dtype BF16 --backend cuda"
mkdir -p "$out/explore"
for variant in "default|" "seqs512|--max-num-seqs 512" "tokens8192|--max-num-batched-tokens 8192"; do
  name=${variant%%|*}; flags=${variant#*|}
  echo "=== W1 $name ($flags)"
  PAGEDINFER_STEP_TRACE=$out/explore/steps-$name.jsonl $cli bench throughput $dummy $flags --input-len 512 --output-len 128 \
    --num-prompts 512 --output-json "$out/explore/w1-$name.json" | grep -E "measured|fraction"
  node scripts/gpu/step-summary.mjs "$out/explore/steps-$name.jsonl"
done
for budget in 2048 512 256; do
  echo "=== serving at $rate req/s, max-num-batched-tokens $budget"
  $cli bench serving $dummy --max-num-batched-tokens $budget --input-len 512 --output-len 128 --num-prompts 300 \
    --request-rate "$rate" --output-json "$out/explore/serving-$budget.json" | grep -E "completed|TTFT|ITL"
done
tar czf "$out/explore.tgz" -C "$out" explore
