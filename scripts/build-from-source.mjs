// Builds the addons from the package's native sources, with what this machine has:
//   CMake + a C++17 compiler -> cmake-js: the CPU addon, and the CUDA addon when nvcc is found;
//   a C++17 compiler only    -> node-gyp (binding.gyp): the CPU addon;
//   neither                  -> a message that says what to install.
// Used by the install hook (scripts/install.mjs) when no prebuilt addon fits; `node
// scripts/build-from-source.mjs` runs it by hand. Everything it does is said on the console.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (line) => console.log(`pagedinfer: ${line}`);
const complain = (line) => console.error(`pagedinfer: ${line}`);

/** The first of `names` found on PATH, as an absolute path, or undefined. */
export function findOnPath(names) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

function run(command, args) {
  say(`$ ${[command, ...args].join(' ')}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.error) complain(`could not start ${command}: ${r.error.message}`);
  return r.status === 0;
}

function buildWithCmakeJs(cmake) {
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  } catch {
    complain('cmake-js is missing from node_modules (it is a dependency of pagedinfer): reinstall pagedinfer');
    return false;
  }
  const nvcc = process.env.CUDACXX || findOnPath(['nvcc']);
  say(`building with cmake-js (CMake: ${cmake}): the CPU addon${nvcc ? `, and the CUDA addon (nvcc: ${nvcc})` : '; nvcc is not on PATH, so no CUDA addon'}`);
  return run(process.execPath, [cmakeJs, 'compile', '--out', 'build']);
}

/** node-gyp: npm's own (npm sets npm_config_node_gyp for scripts), else one on PATH or in node_modules. */
function nodeGypCommand() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const onPath = findOnPath(['node-gyp']);
  if (onPath) return [onPath];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return undefined;
  }
}

function buildWithNodeGyp(cxx) {
  const gyp = nodeGypCommand();
  if (!gyp) {
    complain('node-gyp was not found: run this through npm (`npm rebuild pagedinfer`), or `npm install -g node-gyp`');
    return false;
  }
  say(`building the CPU addon with node-gyp (compiler: ${cxx}); CMake is needed for the CUDA addon`);
  const args = ['rebuild', '--jobs=max'];
  // Node's headers ship with Node itself (<prefix>/include/node): point node-gyp at them, so that it
  // downloads nothing, unless npm's `nodedir` setting already does.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'common.gypi')))
    args.push(`--nodedir=${prefix}`);
  return run(gyp[0], [...gyp.slice(1), ...args]);
}

/** Builds what this machine can; returns true when build/Release/pagedinfer_cpu.node was made. */
export function buildFromSource() {
  const cmake = findOnPath(['cmake']);
  const cxx = process.env.CXX || findOnPath(['c++', 'g++', 'clang++']);
  if (!cxx) {
    complain(
      'no C++ compiler found (looked for $CXX, c++, g++, clang++ on PATH). Install one, e.g. ' +
        '`apt-get install build-essential cmake` (Debian/Ubuntu) or `dnf install gcc-c++ make cmake` (Fedora/RHEL), ' +
        'then run `npm rebuild pagedinfer`.',
    );
    return false;
  }
  if (cmake) {
    if (buildWithCmakeJs(cmake)) return true;
    complain('the cmake-js build failed (its output is above); trying node-gyp for the CPU addon');
  } else {
    say('CMake was not found on PATH');
  }
  if (buildWithNodeGyp(cxx)) return true;
  complain(
    'the native build failed (its output is above). It needs a C++17 compiler (g++ 9+ or clang 10+), make, ' +
      'and Python 3 for node-gyp, or CMake 3.18+. Fix that, then run `npm rebuild pagedinfer`.',
  );
  return false;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(buildFromSource() ? 0 : 1);
}
