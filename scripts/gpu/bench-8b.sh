#!/usr/bin/env bash
# The benchmarks of docs/benchmarks.md on the GPU machine, one call: pagedinfer on the llama-3-8b
# shape (random bf16 weights made on the device) — throughput (W1: 512 prompts, 512 in, 128 out),
# single-request latency, prefill of 64 x 512, serving at 80% of the saturating rate vs unloaded,
# cold start from safetensors — then the same workloads through the peers: Hugging Face
# transformers generate() (static batches of 64) and llama.cpp's CUDA build (F16 GGUF of the same
# shape, flash attention), if scripts/gpu/build-llamacpp.sh built it on this machine. Ends with one
# table (scripts/gpu/report.mjs).
#   bash scripts/gpu/bench-8b.sh OUT
set -uo pipefail
out=${1:-/tmp/out}
preset=${PRESET:-llama-3-8b}
backend=${BACKEND:-cuda}
# SMALL=1 shrinks every workload (a dry run of this script on a CPU machine).
if [ "${SMALL:-0}" = 1 ]; then n=8; inl=32; outl=8; w1=16; else n=64; inl=512; outl=128; w1=512; fi
cli="node dist/cli/main.js"
dummy="--load-format dummy --model $preset --dtype BF16 --backend $backend"
scratch=/tmp/pagedinfer-bench
mkdir -p "$out" "$scratch"
step() { echo; echo "=== $* ($(date +%T))"; }

if [ "${LLAMACPP_ONLY:-0}" != 1 ]; then
step "pagedinfer latency"
$cli bench latency $dummy --input-len $inl --output-len $outl --num-iters 3 --output-json "$out/pi-latency.json"
step "pagedinfer throughput W1"
$cli bench throughput $dummy --input-len $inl --output-len $outl --num-prompts $w1 --output-json "$out/pi-throughput.json"
step "pagedinfer prefill 64 x 512"
$cli bench throughput $dummy --input-len $inl --output-len 1 --num-prompts $n --output-json "$out/pi-prefill.json"
step "pagedinfer serving, unloaded (one request at a time)"
$cli bench serving $dummy --input-len $inl --output-len $outl --num-prompts 8 --max-concurrency 1 --output-json "$out/pi-serving-unloaded.json"
rate=$(node -e "const r=require('$out/pi-throughput.json'); console.log((0.8*r.result.requestsPerSecond).toFixed(2))" 2>/dev/null || echo 8)
step "pagedinfer serving at 80% of the saturating rate ($rate requests/s)"
$cli bench serving $dummy --input-len $inl --output-len $outl --num-prompts $((w1 * 3 / 4)) --request-rate "$rate" --output-json "$out/pi-serving-80.json"
step "pagedinfer cold start from safetensors (weights in the page cache)"
node scripts/gpu/write-dummy-weights.mjs --preset "$preset" --format safetensors --out "$scratch/st"
cat "$scratch/st/model.safetensors" > /dev/null
$cli bench latency --cold --model "$scratch/st" --backend $backend --input-len 16 --output-json "$out/pi-cold.json"
rm -rf "$scratch/st"

step "transformers generate()"
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  PYTHONUNBUFFERED=1 python3 scripts/gpu/peer-transformers.py --preset "presets/$preset.json" --num-prompts $w1 --batch $n \
    --max-batches 2 --input-len $inl --output-len $outl --json "$out/hf.json"
else
  echo "no CUDA PyTorch here: transformers column stays empty"
fi
fi

bin=.gpu-run/llamacpp/build/bin
if [ -x "$bin/llama-batched-bench" ]; then
  step "llama.cpp (CUDA, F16, flash attention)"
  node scripts/gpu/write-dummy-weights.mjs --preset "$preset" --format gguf --out "$scratch/model-f16.gguf"
  "$bin/llama-bench" -m "$scratch/model-f16.gguf" -p $inl -n $outl -ngl 99 -fa on -r 3 -o json > "$out/llamacpp-bench.json" 2> "$out/llamacpp-bench.log"
  "$bin/llama-batched-bench" -m "$scratch/model-f16.gguf" -c 83968 -b 2048 -ub 512 -npp $inl -ntg $outl -npl $n,$((2 * n)) \
    -ngl 99 -fa on --output-format jsonl > "$out/llamacpp-batched.log" 2>&1
  rm -f "$scratch/model-f16.gguf"
else
  echo "llama.cpp was not built on this machine (scripts/gpu/build-llamacpp.sh): its columns stay empty"
fi

step "report"
node scripts/gpu/report.mjs "$out" | tee "$out/report.md"
