#!/usr/bin/env bash
# Fused projections: CUDA kernel tests, W1 A/B (fused vs PAGEDINFER_FUSE_PROJECTIONS=0), op profile,
# cuBLASLt candidates at serving sizes, GPU vitest, serving at 41.7 req/s with the op profile.
set -uo pipefail
out=${OUT:-/tmp/out}; r=$out/r; mkdir -p $r
tar xJf .gpu-run/kit.tar.xz; ln -sfn app/node_modules node_modules
export PAGEDINFER_ADDON_DIR=$PWD/app/node_modules/pagedinfer/prebuilds/linux-x64
nvidia-smi --query-gpu=name,driver_version --format=csv > $r/gpu.txt; cat $r/gpu.txt
./build/pagedinfer_kernel_tests --backend cuda > $r/kernel-tests.log 2>&1; grep -E "FAIL|passed" $r/kernel-tests.log | tail -8
cli="node dist/cli/main.js"
dummy="--load-format dummy --model llama-3-8b --dtype BF16 --backend cuda"
w1="--input-len 512 --output-len 128 --num-prompts 512"
for v in fused apart fused2 apart2; do
  env=""; case $v in apart*) env="PAGEDINFER_FUSE_PROJECTIONS=0";; esac
  echo "== W1 $v"
  env $env PAGEDINFER_STEP_TRACE=$r/steps-w1-$v.jsonl $cli bench throughput $dummy $w1 --output-json $r/w1-$v.json 2>&1 | grep -E "^measured|^roofline|fraction"
done
node scripts/gpu/step-summary.mjs $r/steps-w1-fused.jsonl > $r/steps-w1-fused-summary.txt 2>&1
node scripts/gpu/step-summary.mjs $r/steps-w1-apart.jsonl > $r/steps-w1-apart-summary.txt 2>&1
PAGEDINFER_OP_PROFILE=$r/ops-w1-fused.txt $cli bench throughput $dummy $w1 --output-json $r/w1-prof.json > /dev/null 2>&1
PAGEDINFER_FUSE_PROJECTIONS=0 PAGEDINFER_OP_PROFILE=$r/ops-w1-apart.txt $cli bench throughput $dummy $w1 --output-json $r/w1-prof-apart.json > /dev/null 2>&1
./build/pagedinfer_kernel_bench --only gemm-candidates > $r/gemm-candidates.txt 2>&1; grep -E "best cuBLASLt" $r/gemm-candidates.txt | head -30
node app/node_modules/vitest/vitest.mjs run test/gpu-models.test.ts test/gpu-async.test.ts > $r/vitest-gpu.log 2>&1; grep -E "Tests|passed|failed" $r/vitest-gpu.log | tail -3
for v in fused apart; do
  env=""; [ $v = apart ] && env="PAGEDINFER_FUSE_PROJECTIONS=0"
  echo "== serving 41.7 $v"
  env $env PAGEDINFER_OP_PROFILE=$r/ops-serving-$v.txt PAGEDINFER_STEP_TRACE=$r/steps-serving-$v.jsonl $cli bench serving $dummy --input-len 512 --output-len 128 --num-prompts 384 --request-rate 41.7 --output-json $r/serving-$v.json 2>&1 | grep -E "completed|TTFT|ITL"
done
(cd $out && tar czf r.tgz r)
