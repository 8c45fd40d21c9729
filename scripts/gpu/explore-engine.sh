#!/usr/bin/env bash
# Engine settings explored on the GPU machine (8B shape): W1 throughput under several step
# budgets and sequence limits, with per-step traces summarised (scripts/gpu/step-summary.mjs);
# single-request latency; then serving at a fixed rate under several limits on the prefill a
# decoding step may carry (the ITL / TTFT trade-off), beside the unloaded ITL. PROFILE names the
# runs that also write the per-op GPU profile (PAGEDINFER_OP_PROFILE), e.g. "w1-default serving-256".
#   bash scripts/gpu/explore-engine.sh OUT [RATE]
set -uo pipefail
out=${1:-/tmp/out}
rate=${2:-37}
variants=${W1_VARIANTS:-"default|;seqs512-tok8192|--max-num-seqs 512 --max-num-batched-tokens 8192"}
limits=${SERVING_LIMITS:-"none 512 256"}
cli="node dist/cli/main.js"
dummy="--load-format dummy --model ${PRESET:-llama-3-8b} --dtype BF16 --backend cuda"
w1="--input-len 512 --output-len 128 --num-prompts 512"
ex=$out/explore
mkdir -p "$ex"
profileFor() { case " ${PROFILE:-} " in *" $1 "*) echo "$ex/ops-$1.txt" ;; *) echo "" ;; esac; }
IFS=';' read -ra list <<< "$variants"
for variant in "${list[@]}"; do
  name=${variant%%|*}; flags=${variant#*|}
  echo "=== W1 $name ($flags)"
  PAGEDINFER_OP_PROFILE=$(profileFor "w1-$name") PAGEDINFER_STEP_TRACE=$ex/steps-$name.jsonl \
    $cli bench throughput $dummy $flags $w1 --output-json "$ex/w1-$name.json" | grep -E "measured|fraction"
  node scripts/gpu/step-summary.mjs "$ex/steps-$name.jsonl"
done
echo "=== latency (512 in, 128 out)"
$cli bench latency $dummy --input-len 512 --output-len 128 --num-iters 3 --output-json "$ex/latency.json" | tail -3
echo "=== serving unloaded"
$cli bench serving $dummy --input-len 512 --output-len 128 --num-prompts 8 --max-concurrency 1 \
  --output-json "$ex/serving-unloaded.json" | grep -E "completed|TTFT|ITL"
for limit in $limits; do
  flags=""; [ "$limit" != none ] && flags="--max-prefill-tokens-while-decoding $limit"
  echo "=== serving at $rate req/s, prefill while decoding: $limit"
  PAGEDINFER_OP_PROFILE=$(profileFor "serving-$limit") PAGEDINFER_STEP_TRACE=$ex/steps-serving-$limit.jsonl \
    $cli bench serving $dummy $flags --input-len 512 --output-len 128 --num-prompts 384 \
    --request-rate "$rate" --output-json "$ex/serving-$limit.json" | grep -E "completed|TTFT|ITL"
  node scripts/gpu/step-summary.mjs "$ex/steps-serving-$limit.jsonl"
done
