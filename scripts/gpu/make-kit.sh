#!/usr/bin/env bash
# Prepares what a GPU-machine run needs (see scripts/gpu/run.sh), here, where npm and the network
# are: the prebuilt addons (CPU + CUDA, built with this machine's nvcc), the compiled JavaScript,
# the CUDA kernel test binary, the package installed from its tarball as a user's `npm install`
# does, the runtime dependencies plus vitest, all in .gpu-run/kit.tar.xz; and ../shared/device's kit
# (Node.js and the test models) in .gpu/. Then carry [".gpu", ".gpu-run"] and run
#   source .gpu/setup.sh && bash scripts/gpu/run.sh tests|bench
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
npm run build:prebuilds
npm run build:ts
npx cmake-js compile --out build >/dev/null
rm -rf .gpu-run && mkdir -p .gpu-run/stage/app
stage=$root/.gpu-run/stage

# The package as a user installs it (its prebuilt addons included).
# The consumer also gets vitest: its node_modules (pagedinfer's runtime dependencies, hoisted)
# serves the repository's own GPU tests too (run.sh links it as ./node_modules).
tarball=$(npm pack --pack-destination .gpu-run 2>/dev/null | tail -n 1)
vitest=$(node -p "require('./node_modules/vitest/package.json').version")
(cd "$stage/app" && echo '{ "name": "consumer", "version": "1.0.0", "private": true }' > package.json &&
  npm install "$root/.gpu-run/$tarball" "vitest@$vitest" --prefer-offline --no-audit --no-fund --foreground-scripts >/dev/null)
cp scripts/device-package-check.mjs "$stage/app/check.mjs"
cp -r dist "$stage/"
mkdir -p "$stage/build" && cp build/pagedinfer_kernel_tests build/pagedinfer_kernel_bench "$stage/build/"
# -9: with the Node.js kit, the test models and llama.cpp's source the carry must stay under 64 MiB.
tar cf - -C "$stage" dist build app | xz -T2 -9 > .gpu-run/kit.tar.xz
rm -rf "$stage" ".gpu-run/$tarball"

# llama.cpp's source for the peer benchmark, from the git bundle node-llama-cpp ships (trimmed of
# what its two benchmark tools do not need).
bundle=""
for candidate in "$root/node_modules/node-llama-cpp" "${NODE_LLAMA_CPP_DIR:-}"; do
  [ -n "$candidate" ] && [ -f "$candidate/llama/gitRelease.bundle" ] && bundle="$candidate/llama/gitRelease.bundle" && break
done
if [ -n "$bundle" ]; then
  src=$(mktemp -d)
  git clone -q "$bundle" "$src/llama.cpp" 2>/dev/null
  (cd "$src/llama.cpp" && git log -1 --format='%H' > "$root/.gpu-run/llamacpp-version.txt")
  tar cf - -C "$src/llama.cpp" --exclude=.git --exclude=./models --exclude=./docs --exclude=./examples --exclude=./tests \
    --exclude=./media --exclude=./tools/server/public --exclude=./tools/ui --exclude=./app . | xz -T2 -6 > .gpu-run/llamacpp-src.tar.xz
  rm -rf "$src"
else
  echo "make-kit: node-llama-cpp is not installed: no llama.cpp source, its benchmark will be skipped"
fi

../shared/device/prepare stories260K qwen3-tiny-random
echo "kit: .gpu-run $(du -sh .gpu-run | cut -f1), .gpu $(du -sh .gpu | cut -f1)"
