#!/usr/bin/env node
// Stands in for node-gyp under prebuildify (`--node-gyp`), which knows only node-gyp: prebuildify
// runs `<this> rebuild --target=<node> --arch=<arch> --release` in its working folder and then takes
// the .node file it finds in <that folder>/build/Release. This runs cmake-js on the project instead
// (into build-prebuild/cmake, so the developer's build/ stays as it is) and leaves there the one
// addon named by PAGEDINFER_PREBUILD_ADDON (cpu or cuda): prebuildify takes the first .node of the
// folder, so exactly one must be there. The target Node version is ignored: the addons use Node-API
// only, and one build serves every Node version.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CMAKE_OUT = path.join(root, 'build-prebuild', 'cmake');

const addon = process.env.PAGEDINFER_PREBUILD_ADDON;
const args = process.argv.slice(2);
if (!['cpu', 'cuda'].includes(addon ?? '') || args[0] !== 'rebuild') {
  console.error('prebuildify-cmake: run by scripts/prebuild.mjs (PAGEDINFER_PREBUILD_ADDON=cpu|cuda, then `rebuild ...`)');
  process.exit(2);
}
const arch = args.find((a) => a.startsWith('--arch='))?.slice('--arch='.length);
const debug = args.includes('--debug');

const cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
const cmakeArgs = [
  cmakeJs,
  'compile',
  '--out',
  CMAKE_OUT,
  ...(arch ? ['--arch', arch] : []),
  ...(debug ? ['--debug'] : []),
  // Prebuilds need no kernel tests. (The C++ runtime stays dynamic: linking libstdc++ statically
  // here pulls in glibc 2.36 symbols, which would shut out Ubuntu 22.04.)
  '--CDPAGEDINFER_BUILD_TESTS=OFF',
];
const r = spawnSync(process.execPath, cmakeArgs, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

const config = debug ? 'Debug' : 'Release';
const file = `pagedinfer_${addon}.node`;
const built = path.join(CMAKE_OUT, config, file);
if (!existsSync(built)) {
  console.error(`prebuildify-cmake: the CMake build did not produce ${built}`);
  process.exit(1);
}
const handOff = path.join(process.cwd(), 'build', config);
rmSync(handOff, { recursive: true, force: true });
mkdirSync(handOff, { recursive: true });
copyFileSync(built, path.join(handOff, file));
