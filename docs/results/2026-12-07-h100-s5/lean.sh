#!/usr/bin/env bash
# One short device call, most important first (the call may be cut off): the CUDA sampling
# tests, the sampling bench base vs new, all kernel tests, the GPU model tests, a second A/B round.
out=${OUT:-/tmp/out}; mkdir -p "$out"
tar xJf .gpu-run/kit.tar.xz
ln -sfn app/node_modules node_modules
export PAGEDINFER_ADDON_DIR=$PWD/app/node_modules/pagedinfer/prebuilds/linux-x64
xz -dc .wt/ab2/base_kernel_bench.xz > /tmp/base_kernel_bench && chmod +x /tmp/base_kernel_bench
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
summary() { grep -E "^ceilings|^\| sampling" "$1" | sed -E 's/\| 256 x 128256, sample\(\) wall//; s/rows redone on the host; buffer target 256//' | cut -c1-150; }
timeout 120 ./build/pagedinfer_kernel_tests --backend cuda --filter sampling > "$out/tests-sampling.txt" 2>&1; echo "sampling tests rc $?"
grep -E "FAIL|passed|^  " "$out/tests-sampling.txt" | head -20
timeout 60 /tmp/base_kernel_bench --only sampling > "$out/sampling-base-1.txt" 2>&1; echo "== base 1"; summary "$out/sampling-base-1.txt"
timeout 60 ./build/pagedinfer_kernel_bench --only sampling > "$out/sampling-new-1.txt" 2>&1; echo "== new 1"; summary "$out/sampling-new-1.txt"
timeout 150 ./build/pagedinfer_kernel_tests --backend cuda > "$out/tests-all.txt" 2>&1; echo "all kernel tests rc $?"
grep -E "FAIL|passed" "$out/tests-all.txt" | head -10
timeout 150 node app/node_modules/vitest/vitest.mjs run test/gpu-models.test.ts test/gpu-async.test.ts > "$out/vitest-gpu.txt" 2>&1; echo "vitest gpu rc $?"
grep -E "Tests |FAIL|✗" "$out/vitest-gpu.txt" | head
timeout 60 /tmp/base_kernel_bench --only sampling > "$out/sampling-base-2.txt" 2>&1; echo "== base 2"; summary "$out/sampling-base-2.txt"
timeout 60 ./build/pagedinfer_kernel_bench --only sampling > "$out/sampling-new-2.txt" 2>&1; echo "== new 2"; summary "$out/sampling-new-2.txt"
timeout 90 ./build/pagedinfer_kernel_bench --only model1 > "$out/model1.txt" 2>&1; grep -E "^\| decode step" "$out/model1.txt" | cut -c1-170
