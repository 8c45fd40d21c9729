// npm install hook: use the prebuilt addon when one matches this platform, otherwise build the
// CPU addon (and the CUDA addon when nvcc is found) from source with cmake-js, saying why.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const platform = `${process.platform}-${process.arch}`;
const prebuilt = path.join(root, 'prebuilds', platform, 'pagedinfer_cpu.node');

if (process.env.PAGEDINFER_BUILD_FROM_SOURCE !== '1' && existsSync(prebuilt)) {
  console.log(`pagedinfer: using the prebuilt addon for ${platform}`);
  process.exit(0);
}
const why = existsSync(path.join(root, 'prebuilds'))
  ? `no prebuilt addon for ${platform}`
  : 'no prebuilt addons in this checkout';
console.log(`pagedinfer: ${why}; building from source with cmake-js (needs CMake and a C++17 compiler)`);
const require = createRequire(import.meta.url);
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  console.error('pagedinfer: cmake-js is not installed; run `npm install` again or install cmake-js');
  process.exit(1);
}
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(
    'pagedinfer: the native build failed. Install CMake (>= 3.18) and a C++17 compiler (g++ or clang), then run `npm rebuild pagedinfer`.',
  );
  process.exit(r.status ?? 1);
}
