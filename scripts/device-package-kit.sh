#!/usr/bin/env bash
# Prepares .gpu/ (git-ignored) to check the npm package as installed on the GPU machine, which has no npm
# and no network: Node.js and setup.sh from ../shared/device, and .gpu/app, a project with the packed
# tarball installed as a user's `npm install` does. Then (see ../shared/device/README.md) carry .gpu and run
#   source .gpu/setup.sh && node .gpu/app/check.mjs
# from this folder. (From a worktree .wt/<name> of the checkout the device copies: carry ".wt/<name>/.gpu"
# and `cd .wt/<name>` first.)
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:prebuilds
rm -rf .gpu && mkdir -p .gpu/app
cp ../shared/device/node-*-linux-x64.xz .gpu/node.xz
cp ../shared/device/setup.sh .gpu/setup.sh
tarball=$(npm pack --pack-destination .gpu | tail -n 1)
cd .gpu/app
echo '{ "name": "consumer", "version": "1.0.0", "private": true }' > package.json
npm install "../$tarball" --prefer-offline --no-audit --no-fund --foreground-scripts
cp ../../scripts/device-package-check.mjs check.mjs
echo "kit ready: .gpu ($(du -sh .. | cut -f1))"
