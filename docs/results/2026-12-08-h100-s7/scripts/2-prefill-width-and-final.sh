#!/usr/bin/env bash
# Prefill CTAs of 8 vs 4 warps (kernel bench, W1 A/B), the tests, then the full 8B bench set with
# transformers (llama.cpp: not built in this call) at the better width.
set -uo pipefail
out=${OUT:-/tmp/out}; r=$out/r; mkdir -p $r/final
tar xJf .gpu-run/kit.tar.xz; ln -sfn app/node_modules node_modules
export PAGEDINFER_ADDON_DIR=$PWD/app/node_modules/pagedinfer/prebuilds/linux-x64
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > $r/final/gpu.txt; cat $r/final/gpu.txt
./build/pagedinfer_kernel_tests --backend cuda > $r/final/kernel-tests.log 2>&1; grep -E "FAIL|passed" $r/final/kernel-tests.log | tail -6
./build/pagedinfer_kernel_bench --only prefill > $r/prefill-bench.txt 2>&1; grep -E "^  prefill" $r/prefill-bench.txt
cli="node dist/cli/main.js"
dummy="--load-format dummy --model llama-3-8b --dtype BF16 --backend cuda"
w1="--input-len 512 --output-len 128 --num-prompts 512"
for v in 8a 4a; do
  PAGEDINFER_PREFILL_WARPS=${v:0:1} $cli bench throughput $dummy $w1 --output-json $r/w1-warps$v.json > $r/w1-warps$v.log 2>&1
  echo "W1 warps $v: $(grep -E '^measured|fraction' $r/w1-warps$v.log | tr '\n' ' ')"
done
best=$(node -e "const f=w=>require('$r/w1-warps'+w+'a.json').result.outputTokensPerSecond; console.log(f('4')>f('8')?4:8)")
echo "better prefill width: $best warps"
node app/node_modules/vitest/vitest.mjs run test/gpu-models.test.ts test/gpu-async.test.ts > $r/final/vitest-gpu.log 2>&1; grep -E "Tests " $r/final/vitest-gpu.log
(cd app && env -u PAGEDINFER_ADDON_DIR PAGEDINFER_EXPECT_GPU=1 node check.mjs) > $r/final/package-check.log 2>&1; tail -1 $r/final/package-check.log
PAGEDINFER_PREFILL_WARPS=$best bash scripts/gpu/bench-8b.sh $r/final > $r/final/bench-run.log 2>&1
tail -20 $r/final/bench-run.log
(cd $out && tar czf r.tgz r)
