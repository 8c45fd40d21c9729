#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, after `source .gpu/setup.sh` (the kit from
# scripts/gpu/make-kit.sh carried as .gpu and .gpu-run):
#   bash scripts/gpu/run.sh tests   CUDA kernel tests, GPU model tests, the installed package's check
#   bash scripts/gpu/run.sh bench   the 8B benchmarks (scripts/gpu/bench-8b.sh)
#   bash scripts/gpu/run.sh final   tests then bench, without building llama.cpp
#   bash scripts/gpu/run.sh explore engine settings on the 8B shape (scripts/gpu/explore-engine.sh)
# Logs and JSON results go to $OUT.
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
tar xJf .gpu-run/kit.tar.xz  # always: a warm machine may hold an older kit
ln -sfn app/node_modules node_modules
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.txt"
status=0
# Every pagedinfer process here runs the addons the installed tarball ships.
export PAGEDINFER_ADDON_DIR=$PWD/app/node_modules/pagedinfer/prebuilds/linux-x64
case "${1:-tests}" in
  tests)
    # llama.cpp builds on the CPU cores while the tests use the GPU; its benchmarks run after.
    bash scripts/gpu/build-llamacpp.sh "$out" > "$out/llamacpp-build-summary.log" 2>&1 &
    build=$!
    ./build/pagedinfer_kernel_tests --backend cuda 2>&1 | tee "$out/kernel-tests.log" || status=1
    # The repository's GPU tests, on the addon the installed tarball ships.
    node app/node_modules/vitest/vitest.mjs run test/gpu-models.test.ts test/gpu-async.test.ts 2>&1 | tee "$out/vitest-gpu.log" || status=1
    (cd app && env -u PAGEDINFER_ADDON_DIR PAGEDINFER_EXPECT_GPU=1 node check.mjs) 2>&1 | tee "$out/package-check.log" || status=1
    wait $build || status=1
    cat "$out/llamacpp-build-summary.log"
    # BUILD_ONLY=1: leave llama.cpp's benchmarks to a `bench` call on this (warm) machine, where
    # they run beside pagedinfer's.
    [ "${BUILD_ONLY:-0}" = 1 ] || LLAMACPP_ONLY=1 bash scripts/gpu/bench-8b.sh "$out" || status=1
    ;;
  bench)
    bash scripts/gpu/bench-8b.sh "$out" || status=1
    ;;
  final)
    # Everything but the llama.cpp build (its numbers come from a `tests` run): one call.
    ./build/pagedinfer_kernel_tests --backend cuda 2>&1 | tee "$out/kernel-tests.log" || status=1
    node app/node_modules/vitest/vitest.mjs run test/gpu-models.test.ts test/gpu-async.test.ts 2>&1 | tee "$out/vitest-gpu.log" || status=1
    (cd app && env -u PAGEDINFER_ADDON_DIR PAGEDINFER_EXPECT_GPU=1 node check.mjs) 2>&1 | tee "$out/package-check.log" || status=1
    bash scripts/gpu/bench-8b.sh "$out" || status=1
    ;;
  explore)
    ./build/pagedinfer_kernel_tests --backend cuda 2>&1 | tee "$out/kernel-tests.log" | tail -5 || status=1
    bash scripts/gpu/explore-engine.sh "$out" "${2:-37}" || status=1
    ;;
  *) echo "usage: run.sh tests|bench"; exit 2 ;;
esac
# At most 8 files come back from the GPU machine: everything in one archive, plus the summaries.
(cd "$out" && tar czf all-results.tgz --exclude=all-results.tgz . 2>/dev/null)
exit $status
