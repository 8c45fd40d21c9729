#!/usr/bin/env bash
# The full 8B bench set with both peers in one call: llama.cpp builds in the background while
# pagedinfer and transformers run, then its two benchmarks, then the one table.
set -uo pipefail
out=${OUT:-/tmp/out}; r=$out/final; mkdir -p $r
tar xJf .gpu-run/kit.tar.xz; ln -sfn app/node_modules node_modules
export PAGEDINFER_ADDON_DIR=$PWD/app/node_modules/pagedinfer/prebuilds/linux-x64
export PAGEDINFER_PREFILL_WARPS=4  # the landed prefill kernel (this kit also has an 8-warp variant)
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > $r/gpu.txt; cat $r/gpu.txt
bash scripts/gpu/build-llamacpp.sh $r > $r/llamacpp-build-summary.log 2>&1 &
build=$!
bash scripts/gpu/bench-8b.sh $r > $r/bench-run.log 2>&1
wait $build; tail -1 $r/llamacpp-build-summary.log
LLAMACPP_ONLY=1 bash scripts/gpu/bench-8b.sh $r > $r/bench-llamacpp.log 2>&1
tail -14 $r/bench-llamacpp.log
