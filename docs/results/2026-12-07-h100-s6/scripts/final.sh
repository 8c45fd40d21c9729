#!/usr/bin/env bash
# Final call of the sixth session (after `source .gpu/setup.sh`, with the kit of scripts/gpu/make-kit.sh):
# CUDA kernel tests, GPU model tests, sampling bench (HEAD before / this build / v7 rolled-logprobs
# variant), the 8B single-request latency, the kernel bench's batch-1 decode, the package check.
out=${OUT:-/tmp/out}; mkdir -p "$out"
tar xJf .gpu-run/kit.tar.xz
ln -sfn app/node_modules node_modules
export PAGEDINFER_ADDON_DIR=$PWD/app/node_modules/pagedinfer/prebuilds/linux-x64
for f in .wt/c4/*.xz; do b=$(basename "${f%.xz}"); xz -dc "$f" > "/tmp/$b" && chmod +x "/tmp/$b"; done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$out/gpu.txt"
timeout 150 stdbuf -oL ./build/pagedinfer_kernel_tests --backend cuda > "$out/kernel-tests.txt" 2>&1; echo "kernel tests rc $?"
grep -E "FAIL|passed|what" "$out/kernel-tests.txt" | head -10
timeout 150 node app/node_modules/vitest/vitest.mjs run test/gpu-models.test.ts test/gpu-async.test.ts > "$out/vitest-gpu.txt" 2>&1; echo "vitest gpu rc $?"
grep -E "Tests |Test Files|FAIL|✗|×" "$out/vitest-gpu.txt" | head
s() { grep -E "^\| sampling" "$1" | sed -E 's/rows redone on the host; buffer target 256//; s/256 x 128256, sample\(\) wall//' | cut -c1-120; }
for round in 1 2; do
  timeout 60 /tmp/bench_head --only sampling > "$out/sampling-head-$round.txt" 2>&1; echo "=== 125481c round $round"; s "$out/sampling-head-$round.txt"
  timeout 60 ./build/pagedinfer_kernel_bench --only sampling > "$out/sampling-new-$round.txt" 2>&1; echo "=== this build round $round"; s "$out/sampling-new-$round.txt"
  timeout 60 /tmp/bench_v7 --only sampling > "$out/sampling-v7-$round.txt" 2>&1; echo "=== v7 round $round"; s "$out/sampling-v7-$round.txt"
done
timeout 200 node dist/cli/main.js bench latency --load-format dummy --model llama-3-8b --dtype BF16 --backend cuda \
  --input-len 512 --output-len 128 --num-iters 3 --output-json "$out/pi-latency.json" > "$out/latency.txt" 2>&1; echo "latency rc $?"
tail -12 "$out/latency.txt"
timeout 90 ./build/pagedinfer_kernel_bench --only model1 > "$out/model1.txt" 2>&1; grep -E "^ceilings|^\| decode step" "$out/model1.txt" | cut -c1-170
(cd app && env -u PAGEDINFER_ADDON_DIR PAGEDINFER_EXPECT_GPU=1 timeout 60 node check.mjs) > "$out/package-check.txt" 2>&1; echo "package check rc $?"; tail -3 "$out/package-check.txt"
cd "$out" && tar czf /tmp/all.tgz . && mv /tmp/all.tgz "$out/all.tgz"
