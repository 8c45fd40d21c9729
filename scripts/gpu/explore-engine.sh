#!/usr/bin/env bash
# Engine settings explored on the GPU machine (8B shape): W1 throughput under several step
# budgets and sequence limits, with per-step traces summarised (scripts/gpu/step-summary.mjs) and
# one run with the per-op GPU profile (PAGEDINFER_OP_PROFILE); then serving at a fixed rate under
# several limits on the prefill a decoding step may carry (the ITL / TTFT trade-off), beside the
# unloaded ITL.
#   bash scripts/gpu/explore-engine.sh OUT [RATE]
set -uo pipefail
out=${1:-/tmp/out}
rate=${2:-37}
cli="node dist/cli/main.js"
dummy="--load-format dummy --model ${PRESET:-llama-3-8b} --dtype BF16 --backend cuda"
w1="--input-len 512 --output-len 128 --num-prompts 512"
ex=$out/explore
mkdir -p "$ex"
echo "=== W1 default, per-op profile"
PAGEDINFER_OP_PROFILE=$ex/ops-w1-default.txt $cli bench throughput $dummy $w1 --output-json "$ex/w1-profiled.json" | grep -E "measured|fraction"
for variant in "default|" "seqs512-tok8192|--max-num-seqs 512 --max-num-batched-tokens 8192" "seqs512-tok4096|--max-num-seqs 512 --max-num-batched-tokens 4096"; do
  name=${variant%%|*}; flags=${variant#*|}
  echo "=== W1 $name ($flags)"
  PAGEDINFER_STEP_TRACE=$ex/steps-$name.jsonl $cli bench throughput $dummy $flags $w1 \
    --output-json "$ex/w1-$name.json" | grep -E "measured|fraction"
  node scripts/gpu/step-summary.mjs "$ex/steps-$name.jsonl"
done
echo "=== serving unloaded"
$cli bench serving $dummy --input-len 512 --output-len 128 --num-prompts 8 --max-concurrency 1 \
  --output-json "$ex/serving-unloaded.json" | grep -E "completed|TTFT|ITL"
for limit in none 512 256 128; do
  flags=""; [ "$limit" != none ] && flags="--max-prefill-tokens-while-decoding $limit"
  echo "=== serving at $rate req/s, prefill while decoding: $limit"
  profile=""; [ "$limit" = none ] && profile=$ex/ops-serving-$limit.txt
  PAGEDINFER_OP_PROFILE=$profile PAGEDINFER_STEP_TRACE=$ex/steps-serving-$limit.jsonl \
    $cli bench serving $dummy $flags --input-len 512 --output-len 128 --num-prompts 384 \
    --request-rate "$rate" --output-json "$ex/serving-$limit.json" | grep -E "completed|TTFT|ITL"
  node scripts/gpu/step-summary.mjs "$ex/steps-serving-$limit.jsonl"
done
