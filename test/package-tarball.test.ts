// The npm package as users get it: `npm pack`, then `npm install <tarball>` into a scratch project
// with cmake, nvcc and every compiler hidden from PATH. The prebuilt CPU addon must be used (no
// build), `import` and `require` must both work (with their TypeScript types), a model must run
// through the installed files in both formats, and a damaged or missing addon must give the
// helpful error rather than a crash.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CJS_CONSUMER, ESM_CONSUMER, TS_CJS_CONSUMER, TS_ESM_CONSUMER } from './helpers/consumers.js';
import {
  envWithPath,
  filteredPath,
  installTarball,
  installedRoot,
  packPackage,
  removeScratchDirs,
  type PackedTarball,
  run,
  scratchDir,
} from './helpers/package-install.js';
import { PROJECT_ROOT } from './helpers/shared.js';

// What a user's machine without build tools has on PATH: node and npm (and sh, which npm runs scripts with).
const USER_TOOLS = new Set(['node', 'npm', 'npx', 'sh']);
const BUILD_TOOLS = ['cmake', 'nvcc', 'cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make', 'ninja'];

let tarball: PackedTarball;
let app = '';
let installLog = '';
let env: NodeJS.ProcessEnv = {};

function node(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return run('node', args, { cwd: app, env: { ...env, ...extraEnv } });
}

function jsonLine(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').pop() ?? '');
}

describe('the npm package, installed from its tarball without build tools', () => {
  beforeAll(() => {
    tarball = packPackage(scratchDir('pack'));
    env = envWithPath(filteredPath((name) => USER_TOOLS.has(name)));
    ({ app, log: installLog } = installTarball(tarball.file, env));
    writeFileSync(path.join(app, 'consumer.mjs'), ESM_CONSUMER);  // top-level await: an ES module
    writeFileSync(path.join(app, 'consumer.cjs'), CJS_CONSUMER);
    console.log(`pagedinfer tarball: ${(tarball.size / 1024).toFixed(0)} KiB packed, ${(tarball.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${tarball.files.length} files`);
  }, 600_000);
  afterAll(removeScratchDirs);

  it('hides the build tools from the install', () => {
    for (const tool of BUILD_TOOLS) {
      const r = run('sh', ['-c', `command -v ${tool} || echo missing`], { cwd: app, env });
      expect(r.stdout.trim(), tool).toBe('missing');
    }
  });

  // Where nvcc exists (this machine, CI) the prebuilds include the CUDA addon; without a GPU it
  // loads but reports no usable device, and the CPU addon runs.
  const hasCuda = () => tarball.files.some((f) => f.endsWith('pagedinfer_cuda.node'));

  it('the install hook takes the prebuilt addon and builds nothing', () => {
    expect(installLog).toContain(`pagedinfer: using the prebuilt ${hasCuda() ? 'CPU and CUDA addons' : 'CPU addon'} for linux-x64`);
    expect(installLog).not.toContain('building from source');
    expect(existsSync(path.join(installedRoot(app), 'build'))).toBe(false);
  });

  it('ships what users need and nothing of the workshop', () => {
    const files = tarball.files;
    for (const f of [
      'package.json',
      'prebuilds/linux-x64/pagedinfer_cpu.node',
      'prebuilds/linux-x64/pagedinfer_cpu.node.sha256',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/package.json',
      'presets/tiny-llama.json',
      'models/stories260K.gguf',
      'dist/cli/main.js',
      'CMakeLists.txt',
      'binding.gyp',
      'scripts/install.mjs',
      'scripts/build-from-source.mjs',
      'native/cpu/simd_kernels.cpp',
      'native/addon/addon.cpp',
    ])
      expect(files, f).toContain(f);
    if (existsSync(path.join(PROJECT_ROOT, 'LICENSE'))) expect(files).toContain('LICENSE');
    if (existsSync(path.join(PROJECT_ROOT, 'README.md'))) expect(files).toContain('README.md');
    const unwanted = files.filter((f) =>
      /^(test|lib|build|build-prebuild|node_modules|\.wt|\.gpu|\.ci|test-results|native\/tests|native\/bench)\//.test(f) ||
      /\.(map|o|a|tgz)$/.test(f) ||
      /^(tsconfig|vitest\.config)/.test(f),
    );
    expect(unwanted).toEqual([]);
  });

  it('`import` works: the API reports the prebuilt CPU addon and why there is no GPU', () => {
    const r = node(['--input-type=module', '-e', "import { getRuntimeInfo } from 'pagedinfer'; console.log(JSON.stringify(getRuntimeInfo()))"]);
    expect(r.stderr).toBe('');
    const info = jsonLine(r.stdout) as { backend: string; reason: string; addon: { path: string; source: string }; cpu: { simd: string } };
    expect(info.backend).toBe('cpu');
    expect(info.addon.source).toBe('prebuilt');
    expect(info.addon.path).toBe(path.join(installedRoot(app), 'prebuilds', 'linux-x64', 'pagedinfer_cpu.node'));
    expect(['avx512', 'avx2', 'baseline']).toContain(info.cpu.simd);
    // One clear line on why it runs on the CPU.
    expect(info.reason).not.toContain('\n');
    expect(info.reason).toMatch(/no GPU support in this installation|no usable GPU/);
  });

  it('`require` works and reports the same', () => {
    const r = node(['-e', "const p = require('pagedinfer'); console.log(JSON.stringify(p.getRuntimeInfo()))"]);
    expect(r.stderr).toBe('');
    const info = jsonLine(r.stdout) as { backend: string; addon: { path: string } };
    expect(info.backend).toBe('cpu');
    expect(info.addon.path).toContain(path.join('node_modules', 'pagedinfer', 'prebuilds'));
  });

  it('generates with the built-in model through the public API, the same text by import and by require', () => {
    const esm = node(['consumer.mjs']);
    const cjs = node(['consumer.cjs']);
    expect(esm.status, esm.stderr).toBe(0);
    expect(cjs.status, cjs.stderr).toBe(0);
    const a = jsonLine(esm.stdout) as { text: string; ids: number[]; backend: string; addonPath: string };
    const b = jsonLine(cjs.stdout) as typeof a;
    expect(a.ids).toHaveLength(16);
    expect(a.text).toMatch(/^, there was a little girl named Lily/);
    expect(b.text).toBe(a.text);
    expect(b.ids).toEqual(a.ids);
    expect(a.backend).toBe('cpu');
    expect(a.addonPath).toBe(path.join(installedRoot(app), 'prebuilds', 'linux-x64', 'pagedinfer_cpu.node'));
  });

  it('`npx pagedinfer generate` runs the built-in model', () => {
    const r = run('npx', ['--offline', 'pagedinfer', 'generate', 'Once upon a time', '--max-tokens', '30', '--temperature', '0'], { cwd: app, env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Once upon a time, there was a little girl named Lily/);
  });

  it('`npx pagedinfer info` says which addon runs and why, and the SIMD level', () => {
    const r = run('npx', ['--offline', 'pagedinfer', 'info'], { cwd: app, env });
    expect(r.status, r.stderr).toBe(0);
    if (hasCuda()) expect(r.stdout).toMatch(/^backend +cpu \(.*no usable (GPU|CUDA device).*\)$/m);
    else expect(r.stdout).toMatch(/^backend +cpu \(no GPU support in this installation: it has no CUDA addon \(pagedinfer_cuda\.node\)\)$/m);
    expect(r.stdout).toContain(`addon         ${path.join(installedRoot(app), 'prebuilds', 'linux-x64', 'pagedinfer_cpu.node')} (prebuilt)`);
    expect(r.stdout).toMatch(/^CPU kernels +(avx512|avx2|baseline), \d+ cores$/m);
  });

  it('TypeScript resolves the types of both formats (exports map, skipLibCheck off)', () => {
    writeFileSync(path.join(app, 'esm-consumer.mts'), TS_ESM_CONSUMER);
    writeFileSync(path.join(app, 'cjs-consumer.cts'), TS_CJS_CONSUMER);
    const tsc = path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = node([
      tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022',
      '--typeRoots', path.join(PROJECT_ROOT, 'node_modules', '@types'), '--types', 'node',
      'esm-consumer.mts', 'cjs-consumer.cts',
    ]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  // A cut-short file would kill the process inside dlopen (SIGBUS) if it were loaded; a changed
  // byte is caught by the prebuild's SHA-256.
  const damages: [string, (good: Buffer) => Buffer, string][] = [
    ['cut short', (good) => good.subarray(0, 4096), 'cut short: a loadable segment ends at byte'],
    ['a changed byte', (good) => Buffer.concat([good.subarray(0, 9000), Buffer.from([good[9000] ^ 0xff]), good.subarray(9001)]), 'its SHA-256 is not the one recorded'],
    ['not a library at all', () => Buffer.from('<html>502 Bad Gateway</html>'), 'the file is damaged'],
  ];
  for (const [what, damage, detail] of damages) {
    it(`a damaged addon (${what}) gives an error that names the file, the problem and the fix, by import and require`, () => {
      const addon = path.join(installedRoot(app), 'prebuilds', 'linux-x64', 'pagedinfer_cpu.node');
      const backup = `${addon}.bak`;
      copyFileSync(addon, backup);
      try {
        writeFileSync(addon, damage(readFileSync(backup)));
        for (const format of ['esm', 'cjs']) {
          const r =
            format === 'esm'
              ? node(['--input-type=module', '-e', "import { getRuntimeInfo } from 'pagedinfer'; getRuntimeInfo();"])
              : node(['-e', "require('pagedinfer').getRuntimeInfo()"]);
          expect(r.signal, `${format}: ${r.stderr}`).toBeNull();
          expect(r.status, format).toBe(1);
          expect(r.stderr).toContain('NativeError: pagedinfer: the CPU addon (pagedinfer_cpu.node) did not load');
          expect(r.stderr).toContain(addon);
          expect(r.stderr).toContain('the file is damaged');
          expect(r.stderr).toContain(detail);
          expect(r.stderr).toContain('npm rebuild pagedinfer --build-from-source');
        }
      } finally {
        renameSync(backup, addon);
      }
    });
  }

  it('a damaged local build is passed over for the prebuilt addon, and reported', () => {
    const local = path.join(installedRoot(app), 'build', 'Release', 'pagedinfer_cpu.node');
    mkdirSync(path.dirname(local), { recursive: true });
    writeFileSync(local, readFileSync(path.join(installedRoot(app), 'prebuilds', 'linux-x64', 'pagedinfer_cpu.node')).subarray(0, 8192));
    try {
      const r = node(['-e', "const p = require('pagedinfer'); console.log(p.formatRuntimeInfo(p.getRuntimeInfo()))"]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^addon: +\S+prebuilds\/linux-x64\/pagedinfer_cpu\.node \(prebuilt\)$/m);
      expect(r.stdout).toMatch(/^skipped: +\S+\/build\/Release\/pagedinfer_cpu\.node \(local build\): the file is damaged \(cut short/m);
    } finally {
      rmSync(path.join(installedRoot(app), 'build'), { recursive: true });
    }
  });

  it('the install hook notices a damaged prebuild and says why it would build from source', () => {
    const addon = path.join(installedRoot(app), 'prebuilds', 'linux-x64', 'pagedinfer_cpu.node');
    const backup = `${addon}.bak`;
    copyFileSync(addon, backup);
    try {
      writeFileSync(addon, readFileSync(backup).subarray(0, 4096));
      const r = run('node', [path.join(installedRoot(app), 'scripts', 'install.mjs')], { cwd: installedRoot(app), env });
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('pagedinfer: building from source: the prebuilt addon for linux-x64 does not load here');
      // No compiler on this PATH: the hook says what to install.
      expect(r.stderr).toContain('no C++ compiler found');
      expect(r.stderr).toContain('npm rebuild pagedinfer');
    } finally {
      renameSync(backup, addon);
    }
  });

  it('a missing addon gives an error that says where it looked and how to build it', () => {
    const prebuilds = path.join(installedRoot(app), 'prebuilds');
    renameSync(prebuilds, `${prebuilds}.away`);
    try {
      const r = node(['-e', "require('pagedinfer').getRuntimeInfo()"]);
      expect(r.signal).toBeNull();
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('the CPU addon (pagedinfer_cpu.node) for linux-x64 was not found.\nLooked for:');
      expect(r.stderr).toContain(path.join(prebuilds, 'linux-x64', 'pagedinfer_cpu.node'));
      expect(r.stderr).toContain(path.join(installedRoot(app), 'build', 'Release', 'pagedinfer_cpu.node'));
      expect(r.stderr).toContain('no prebuilt addon for linux-x64');
      expect(r.stderr).toContain('npm rebuild pagedinfer --build-from-source');
      expect(r.stderr).toContain('npm install-scripts approve pagedinfer');
    } finally {
      renameSync(`${prebuilds}.away`, prebuilds);
    }
  });

  it('PAGEDINFER_BACKEND=cuda where CUDA cannot run says why', () => {
    const r = node(['-e', "require('pagedinfer').getRuntimeInfo()"], { PAGEDINFER_BACKEND: 'cuda' });
    expect(r.status).toBe(1);
    if (hasCuda()) expect(r.stderr).toMatch(/the CUDA backend was forced by PAGEDINFER_BACKEND=cuda, but there is no usable GPU: .+\. Use 'cpu' or 'auto'/);
    else expect(r.stderr).toContain('the CUDA addon (pagedinfer_cuda.node) for linux-x64 was not found (forced by PAGEDINFER_BACKEND=cuda)');
  });
});
