// npm install hook. An installed package uses its prebuilt addon when one exists for this
// platform and loads here; otherwise it builds from source (scripts/build-from-source.mjs), saying
// why. A git checkout always builds from source: it develops the native code, and has no prebuilds
// unless `npm run build:prebuilds` made some. The addons themselves are found at run time by
// lib/addon/ (which also works when npm skipped this hook).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildFromSource } from './build-from-source.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const platform = `${process.platform}-${process.arch}`;
const prebuiltDir = path.join(root, 'prebuilds', platform);
const say = (line) => console.log(`pagedinfer: ${line}`);

/** Asked for by `PAGEDINFER_BUILD_FROM_SOURCE=1` or npm's `--build-from-source` (as with node-pre-gyp). */
function fromSourceRequested() {
  const env = process.env.PAGEDINFER_BUILD_FROM_SOURCE;
  if (env === '1' || env === 'true') return 'PAGEDINFER_BUILD_FROM_SOURCE is set';
  const npmFlag = process.env.npm_config_build_from_source;
  if (npmFlag === 'true' || npmFlag?.split(',').includes('pagedinfer')) return '--build-from-source was given';
  return '';
}

/**
 * '' when the prebuilt CPU addon loads in this Node.js, else why not (old glibc, musl, a damaged
 * file). Tried in a child process: a damaged file can kill the process that loads it.
 */
function prebuiltLoadProblem(file) {
  const probe = `const a = require(${JSON.stringify(file)}); if (typeof a.backendInfo !== 'function') throw new Error('not a pagedinfer addon');`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  if (r.status === 0) return '';
  if (r.signal) return `loading it killed Node.js with ${r.signal}: the file is damaged`;
  const error = r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim().split('\n')[0];
  return error.trim();
}

function whyBuild() {
  const requested = fromSourceRequested();
  if (requested) return requested;
  if (existsSync(path.join(root, 'lib', 'native.ts'))) return 'this is a git checkout (it builds its own addons)';
  const cpu = path.join(prebuiltDir, 'pagedinfer_cpu.node');
  if (!existsSync(cpu)) return `this package has no prebuilt addon for ${platform}`;
  const problem = prebuiltLoadProblem(cpu);
  if (problem) return `the prebuilt addon for ${platform} does not load here (${problem})`;
  const cuda = existsSync(path.join(prebuiltDir, 'pagedinfer_cuda.node'));
  say(`using the prebuilt ${cuda ? 'CPU and CUDA addons' : 'CPU addon'} for ${platform} (${path.relative(root, prebuiltDir)}); nothing to build`);
  return '';
}

const why = whyBuild();
if (why) {
  say(`building from source: ${why}`);
  process.exit(buildFromSource() ? 0 : 1);
}
