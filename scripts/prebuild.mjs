#!/usr/bin/env node
// `npm run build:prebuilds`: the prebuilt addons shipped in the npm package, made by prebuildify
// (Node-API: one binary per platform serves every Node version), stripped, as
//   prebuilds/<platform>-<arch>/pagedinfer_cpu.node    always
//   prebuilds/<platform>-<arch>/pagedinfer_cuda.node   when the CMake build made it (nvcc found)
// prebuildify drives node-gyp only and copies one .node per run, so it runs once per addon with
// scripts/prebuildify-cmake.mjs as its node-gyp; the CMake build itself runs once (the second run
// finds it up to date). (Not named "prebuild": npm would run that before every `npm run build`.)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import prebuildify from 'prebuildify';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shim = path.join(root, 'scripts', 'prebuildify-cmake.mjs');
const stage = path.join(root, 'build-prebuild');
const platform = `${process.platform}-${process.arch}`;
const outDir = path.join(root, 'prebuilds', platform);

// A CUDA addon from an earlier run must not ship beside a CPU addon built without it.
rmSync(outDir, { recursive: true, force: true });

for (const addon of ['cpu', 'cuda']) {
  const name = `pagedinfer_${addon}`;
  if (addon === 'cuda' && !existsSync(path.join(stage, 'cmake', 'Release', `${name}.node`))) {
    console.log('prebuild: no CUDA addon (the CMake build made none: nvcc not found, or no CUDA target); CPU only');
    continue;
  }
  const cwd = path.join(stage, addon);
  mkdirSync(cwd, { recursive: true });
  process.env.PAGEDINFER_PREBUILD_ADDON = addon;
  await promisify(prebuildify)({
    cwd,
    out: root,
    name,
    napi: true,
    strip: true,
    nodeGyp: shim,
    targets: [{ runtime: 'node', target: process.versions.node }],
  });
}

// A SHA-256 beside each addon: the loader checks it, so a damaged file is reported, not loaded.
for (const f of readdirSync(outDir).filter((f) => f.endsWith('.node'))) {
  const file = path.join(outDir, f);
  writeFileSync(`${file}.sha256`, `${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${f}\n`);
}

for (const f of readdirSync(outDir)) {
  const size = statSync(path.join(outDir, f)).size;
  console.log(`prebuild: ${path.relative(root, path.join(outDir, f))} (${size < 1024 ? `${size} B` : `${(size / 1024).toFixed(0)} KiB`})`);
}
