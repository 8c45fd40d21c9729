#!/usr/bin/env bash
# The CUDA kernel tests and kernel benchmarks in one device call, this build beside a baseline
# build (docs/cuda-kernels.md). Build both here (plain CMake, -DCMAKE_CUDA_ARCHITECTURES=90), put
# the three executables and this script in one git-ignored folder, carry it, and run:
#   ONLY=model,gemv bash DIR/kernel-decode.sh   # DIR holds pagedinfer_kernel_tests, pagedinfer_kernel_bench,
#                                               # base_kernel_bench (the baseline's bench); logs go to $OUT
# The two benches run alternately, ROUNDS times (default 1), so that drift shows as spread.
cd "$(dirname "$0")"
out=${OUT:-/tmp/out}
only=${ONLY:-model,gemv}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee "$out/gpu.txt"
timeout 150 ./pagedinfer_kernel_tests --backend cuda > "$out/tests.txt" 2>&1; echo "tests rc $?"
grep -E "FAIL|passed|^  " "$out/tests.txt" | head -30
if [ "${PDL_OFF_TESTS:-1}" = 1 ]; then
  PAGEDINFER_CUDA_PDL=0 timeout 120 ./pagedinfer_kernel_tests --backend cuda > "$out/tests-nopdl.txt" 2>&1
  echo "tests (PDL off) rc $?"
  grep -E "FAIL|passed" "$out/tests-nopdl.txt" | head -10
fi
for round in $(seq 1 "${ROUNDS:-1}"); do
  timeout 150 ./base_kernel_bench --only "$only" > "$out/bench-base-$round.txt" 2>&1; echo "base bench rc $?"
  timeout 180 ./pagedinfer_kernel_bench --only "$only" > "$out/bench-new-$round.txt" 2>&1; echo "new bench rc $?"
done
for round in $(seq 1 "${ROUNDS:-1}"); do
  echo "== base, round $round"; grep -iE "^ceilings:|^\| (GEMV bf16|decode step|sampling)" "$out/bench-base-$round.txt"
  echo "== new, round $round"; grep -iE "^ceilings:|^\| (GEMV bf16|decode step|sampling)" "$out/bench-new-$round.txt"
done
