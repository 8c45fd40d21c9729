#!/usr/bin/env bash
# Builds the peer for the GPU benchmarks: llama.cpp's CUDA build (llama-bench and
# llama-batched-bench only) for sm_90, from the source node-llama-cpp ships as a git bundle
# (llama/gitRelease.bundle), extracted here beforehand by scripts/gpu/make-kit.sh into
# .gpu-run/llamacpp-src.tar.xz (the GPU machine has no network). About 5 minutes on 16 cores.
#   bash scripts/gpu/build-llamacpp.sh [OUT]   → .gpu-run/llamacpp/build/bin/
set -euo pipefail
out=${1:-/tmp/out}
src=.gpu-run/llamacpp
if [ -x "$src/build/bin/llama-batched-bench" ]; then echo "llama.cpp already built"; exit 0; fi
rm -rf "$src" && mkdir -p "$src"
tar xJf .gpu-run/llamacpp-src.tar.xz -C "$src"
start=$(date +%s)
cmake -S "$src" -B "$src/build" -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_TOOLS=ON >"$out/llamacpp-cmake.log" 2>&1
cmake --build "$src/build" -j16 --target llama-bench llama-batched-bench >"$out/llamacpp-build.log" 2>&1
echo "llama.cpp built in $(( $(date +%s) - start )) s: $(cat .gpu-run/llamacpp-version.txt 2>/dev/null)"
