// Building from source inside an installed package, as the install hook does where no prebuild
// fits: first on a machine with a compiler but no CMake (node-gyp and binding.gyp; the model tests
// then run on that addon), then with CMake (cmake-js and the shipped CMakeLists.txt, which must not
// need the native tests left out of the tarball).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  envWithPath,
  filteredPath,
  installTarball,
  installedRoot,
  packPackage,
  removeScratchDirs,
  run,
  runOk,
  scratchDir,
} from './helpers/package-install.js';
import { HAVE_SHARED, PROJECT_ROOT } from './helpers/shared.js';

const NO_CMAKE = new Set(['cmake', 'ctest', 'cpack', 'ccmake', 'nvcc']);
// The model tests of this repository that run the native model (they import lib/native.ts, which
// honours PAGEDINFER_ADDON_DIR).
const MODEL_TESTS = ['test/dummy-model.test.ts', 'test/model-reference.test.ts', 'test/model-half.test.ts'];

let app = '';
let pkg = '';
let compilerNoCmake: NodeJS.ProcessEnv = {};

function rebuild(env: NodeJS.ProcessEnv) {
  return run('npm', ['rebuild', 'pagedinfer', '--foreground-scripts'], { cwd: app, env, timeoutMs: 600_000 });
}

describe('building from source in an installed package', () => {
  beforeAll(() => {
    const tarball = packPackage(scratchDir('pack'));
    compilerNoCmake = envWithPath(filteredPath((name) => !NO_CMAKE.has(name)));
    ({ app } = installTarball(tarball.file, compilerNoCmake));
    pkg = installedRoot(app);
    // As on a platform this package has no prebuilt addon for.
    rmSync(path.join(pkg, 'prebuilds'), { recursive: true });
  }, 600_000);
  afterAll(removeScratchDirs);

  it('without CMake: the install hook says why it builds and builds the CPU addon with node-gyp', () => {
    expect(run('sh', ['-c', 'command -v cmake || echo missing'], { cwd: app, env: compilerNoCmake }).stdout.trim()).toBe('missing');
    // Offline, and without npm's `nodedir` setting (this machine's npmrc has one, CI's may not): the
    // hook must point node-gyp at the headers of the running Node.js, and any download would hit a
    // dead proxy and fail the build.
    const npmrc = path.join(scratchDir('npmrc'), 'npmrc');
    writeFileSync(npmrc, '');
    const offline = { ...compilerNoCmake, npm_config_userconfig: npmrc, npm_config_proxy: 'http://127.0.0.1:9', npm_config_https_proxy: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9' };
    const r = rebuild(offline);
    const log = r.stdout + r.stderr;
    expect(r.status, log).toBe(0);
    expect(log).toMatch(/node-gyp\.js rebuild --jobs=max --nodedir=\//);
    expect(log).toContain('pagedinfer: building from source: this package has no prebuilt addon for linux-x64');
    expect(log).toContain('pagedinfer: CMake was not found on PATH');
    expect(log).toContain('pagedinfer: building the CPU addon with node-gyp');
    // binding.gyp compiles the SIMD kernels once per instruction set, as CMakeLists.txt does.
    for (const level of ['baseline', 'avx2', 'avx512'])
      expect(existsSync(path.join(pkg, 'build', 'Release', `pagedinfer_simd_${level}.a`)), level).toBe(true);
    expect(existsSync(path.join(pkg, 'build', 'Release', 'pagedinfer_cpu.node'))).toBe(true);
  });

  it('the package then loads its local build and reports it', () => {
    const r = runOk('node', ['-e', "console.log(JSON.stringify(require('pagedinfer').getRuntimeInfo()))"], { cwd: app, env: compilerNoCmake });
    const info = JSON.parse(r.stdout) as { backend: string; addon: { path: string; source: string }; cpu: { simd: string } };
    expect(info.addon).toEqual({ path: path.join(pkg, 'build', 'Release', 'pagedinfer_cpu.node'), source: 'local build' });
    expect(['avx512', 'avx2', 'baseline']).toContain(info.cpu.simd);
  });

  it('the node-gyp addon passes the model tests', () => {
    const addonDir = path.join(pkg, 'build', 'Release');
    const report = path.join(scratchDir('report'), 'vitest.json');
    const env = { ...process.env, PAGEDINFER_ADDON_DIR: addonDir };
    // The loader looks only in PAGEDINFER_ADDON_DIR when it is set: the tests below run on this addon.
    const probe = runOk(process.execPath, ['--input-type=module', '-e', "import { getRuntimeInfo } from './dist/index.js'; console.log(getRuntimeInfo().addon.path)"], { cwd: PROJECT_ROOT, env });
    expect(probe.stdout.trim()).toBe(path.join(addonDir, 'pagedinfer_cpu.node'));
    // A config of its own: the project's writes test-results/vitest.json, the report CI counts.
    const config = path.join(path.dirname(report), 'vitest.config.mjs');
    writeFileSync(config, `export default { test: { fileParallelism: false, testTimeout: 120000, reporters: [['json', { outputFile: ${JSON.stringify(report)} }]] } };\n`);
    const vitest = path.join(PROJECT_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const r = run(process.execPath, [vitest, 'run', '--config', config, '--root', PROJECT_ROOT, ...MODEL_TESTS], { cwd: PROJECT_ROOT, env, timeoutMs: 600_000 });
    const result = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number };
    expect(result.numFailedTests, r.stdout + r.stderr).toBe(0);
    expect(r.status).toBe(0);
    expect(result.numPassedTests).toBeGreaterThanOrEqual(HAVE_SHARED ? 6 : 2);
    if (HAVE_SHARED) expect(result.numPendingTests).toBe(0);
  });

  it('with CMake: the hook builds with cmake-js from the shipped sources (no native tests needed)', () => {
    rmSync(path.join(pkg, 'build'), { recursive: true });
    expect(existsSync(path.join(pkg, 'native', 'tests'))).toBe(false);
    const full = envWithPath(process.env.PATH ?? '');
    const r = rebuild(full);
    const log = r.stdout + r.stderr;
    expect(r.status, log).toBe(0);
    expect(log).toContain('pagedinfer: building with cmake-js');
    expect(existsSync(path.join(pkg, 'build', 'Release', 'pagedinfer_cpu.node'))).toBe(true);
    // Where nvcc is on PATH (this machine, CI) the CUDA addon is built from source too.
    const nvcc = spawnSync('sh', ['-c', 'command -v nvcc'], { env: full }).status === 0;
    expect(existsSync(path.join(pkg, 'build', 'Release', 'pagedinfer_cuda.node'))).toBe(nvcc);
    const info = runOk('node', ['-e', "console.log(require('pagedinfer').getRuntimeInfo().addon.source)"], { cwd: app, env: full });
    expect(info.stdout.trim()).toBe('local build');
  }, 900_000);  // with nvcc present this compiles the CUDA kernels too: minutes on 2 cores
});
