#!/usr/bin/env bash
# The CUDA kernel tests and the batch-1 decode benchmark in one device call, this build beside a
# baseline build (docs/cuda-kernels.md, "Decode projections and chained launches"). Build both
# here (plain CMake, -DCMAKE_CUDA_ARCHITECTURES=90), put the three executables and this script in
# one git-ignored folder, carry it, and run:
#   bash DIR/kernel-decode.sh        # DIR holds pagedinfer_kernel_tests, pagedinfer_kernel_bench,
#                                    # base_kernel_bench (the baseline's bench); logs go to $OUT
cd "$(dirname "$0")"
out=${OUT:-/tmp/out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee "$out/gpu.txt"
timeout 120 ./pagedinfer_kernel_tests --backend cuda > "$out/tests.txt" 2>&1; echo "tests rc $?"
grep -E "FAIL|passed" "$out/tests.txt" | head -20
PAGEDINFER_CUDA_PDL=0 timeout 90 ./pagedinfer_kernel_tests --backend cuda > "$out/tests-nopdl.txt" 2>&1
echo "tests (PDL off) rc $?"
grep -E "FAIL|passed" "$out/tests-nopdl.txt" | head -10
timeout 150 ./base_kernel_bench --only model,gemv > "$out/bench-base.txt" 2>&1; echo "base bench rc $?"
timeout 180 ./pagedinfer_kernel_bench --only model,gemv > "$out/bench-new.txt" 2>&1; echo "new bench rc $?"
echo "== base"; grep -iE "^ceilings:|^\| (GEMV bf16|decode step)" "$out/bench-base.txt"
echo "== new"; grep -iE "^ceilings:|^\| (GEMV bf16|decode step)" "$out/bench-new.txt"
