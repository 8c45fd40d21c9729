#!/usr/bin/env bash
# GEMMs at a mixed serving step's token counts beside their roofline; decode attention (issue 4's target).
out=${OUT:-/tmp/out}; mkdir -p "$out"; cd "$(dirname "$0")"
xz -dc bench.xz > /tmp/bench && chmod +x /tmp/bench
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
timeout 240 /tmp/bench --only gemm,attention > "$out/gemm-attention.txt" 2>&1; echo "bench rc $?"
grep -E "^ceilings|^\| (GEMM|decode att)" "$out/gemm-attention.txt" | cut -c1-200
