// The addon loader (lib/addon/): where it looks and in which order, what it does with damaged or
// foreign files, which backend it picks and the one-line reason it gives, and the errors that say
// what was looked for and how to build. Real files in scratch package folders; for the CUDA paths,
// stand-in addons (this machine has no GPU and the CUDA addon comes later).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { explainLoadFailure } from '../lib/addon/advice.js';
import { checkAddonFile, checkElfBounds } from '../lib/addon/file-check.js';
import { addonLoadError, type AddonLoadResult, loadAddon } from '../lib/addon/load.js';
import { findAddon } from '../lib/addon/locate.js';
import { chooseBackend } from '../lib/addon/select.js';
import { type AddonBackendInfo, ADDON_ABI_VERSION, type BackendName, type NativeAddon } from '../lib/addon/types.js';
import { NativeError } from '../lib/errors.js';
import { formatRuntimeInfo, getRuntimeInfo } from '../lib/runtime-info.js';
import { removeScratchDirs, scratchDir } from './helpers/package-install.js';
import { PROJECT_ROOT } from './helpers/shared.js';

const BUILT = path.join(PROJECT_ROOT, 'build', 'Release', 'pagedinfer_cpu.node');
const PLATFORM = `${process.platform}-${process.arch}`;

/** A folder laid out like an installed pagedinfer (no lib/ sources), with the given addon files. */
function fakeInstall(files: Record<string, Buffer | string>): string {
  const root = scratchDir('root');
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'pagedinfer', version: '0.0.0' }));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), content);
  }
  return root;
}

const good = () => readFileSync(BUILT);
afterAll(removeScratchDirs);
const LOCAL = 'build/Release/pagedinfer_cpu.node';
const PREBUILT = `prebuilds/${PLATFORM}/pagedinfer_cpu.node`;

describe('addon file checks (before dlopen)', () => {
  it('accepts a real addon and refuses every cut-short copy of it', () => {
    const bytes = good();
    expect(checkElfBounds(bytes.subarray(0, 64 * 1024), bytes.length)).toBe('');
    for (const size of [20, 63, 200, 4096, bytes.length >> 1, bytes.length - 1]) {
      expect(checkElfBounds(bytes.subarray(0, Math.min(size, 64 * 1024)), size), `${size} bytes`).toMatch(/^cut short/);
    }
  });

  it('leaves files that are not ELF to dlopen, which refuses them cleanly', () => {
    expect(checkElfBounds(Buffer.from('<html>not found</html>'), 22)).toBe('');
  });

  it('checks a prebuilt file against the SHA-256 recorded beside it', () => {
    const root = fakeInstall({ [PREBUILT]: good() });
    const file = path.join(root, PREBUILT);
    expect(checkAddonFile(file)).toBe('');
    writeFileSync(`${file}.sha256`, `${'0'.repeat(64)}  pagedinfer_cpu.node\n`);
    expect(checkAddonFile(file)).toMatch(/SHA-256 is not the one recorded/);
  });
});

describe('where addons are looked for', () => {
  it('a local build (the bindings lookup) before the prebuilt file, and both are listed', () => {
    const root = fakeInstall({ [LOCAL]: good(), [PREBUILT]: good() });
    const s = findAddon('cpu', root, {});
    expect(s.found).toEqual([
      { file: path.join(root, LOCAL), source: 'local build' },
      { file: path.join(root, PREBUILT), source: 'prebuilt' },
    ]);
  });

  it("lists bindings' places and the prebuilds folder when nothing is there", () => {
    const root = fakeInstall({});
    const s = findAddon('cuda', root, {});
    expect(s.found).toEqual([]);
    expect(s.lookedAt).toContain(path.join(root, 'build', 'Release', 'pagedinfer_cuda.node'));
    expect(s.lookedAt).toContain(path.join(root, 'build', 'Debug', 'pagedinfer_cuda.node'));
    expect(s.lookedAt[s.lookedAt.length - 1]).toBe(path.join(root, 'prebuilds', PLATFORM, 'pagedinfer_cuda.node'));
  });

  it('PAGEDINFER_ADDON_DIR is the only place looked at when set', () => {
    const root = fakeInstall({ [LOCAL]: good(), [PREBUILT]: good() });
    const dir = scratchDir('addon-dir');
    expect(findAddon('cpu', root, { PAGEDINFER_ADDON_DIR: dir })).toEqual({ found: [], lookedAt: [path.join(dir, 'pagedinfer_cpu.node')] });
    copyFileSync(BUILT, path.join(dir, 'pagedinfer_cpu.node'));
    expect(findAddon('cpu', root, { PAGEDINFER_ADDON_DIR: dir }).found).toEqual([{ file: path.join(dir, 'pagedinfer_cpu.node'), source: 'PAGEDINFER_ADDON_DIR' }]);
  });
});

describe('loading', () => {
  it('loads a working addon and reports its file', () => {
    const root = fakeInstall({ [PREBUILT]: good() });
    const r = loadAddon('cpu', root, {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.file).toBe(path.join(root, PREBUILT));
    expect(r.source).toBe('prebuilt');
    expect(r.addon.backendInfo().name).toBe('cpu');
  });

  it('passes over a damaged local build to the prebuilt file, and says it did', () => {
    const root = fakeInstall({ [LOCAL]: good().subarray(0, 10_000), [PREBUILT]: good() });
    const r = loadAddon('cpu', root, {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.source).toBe('prebuilt');
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0].file).toBe(path.join(root, LOCAL));
    expect(r.skipped[0].error).toMatch(/the file is damaged \(cut short/);
  });

  it('a missing addon: the error lists where it looked and how to build, for an installed package', () => {
    const root = fakeInstall({});
    const r = loadAddon('cpu', root, {});
    expect(r.ok).toBe(false);
    const message = addonLoadError(r as Extract<AddonLoadResult, { ok: false }>, root).message;
    expect(message).toContain(`the CPU addon (pagedinfer_cpu.node) for ${PLATFORM} was not found.\nLooked for:`);
    expect(message).toContain(`  ${path.join(root, LOCAL)}`);
    expect(message).toContain(`  ${path.join(root, PREBUILT)}`);
    expect(message).toContain(`no prebuilt addon for ${PLATFORM} (it has none)`);
    expect(message).toContain('npm rebuild pagedinfer --build-from-source');
    expect(message).toContain('npm install-scripts approve pagedinfer');
  });

  it('a broken addon in a checkout: the error names the file and the build commands of a checkout', () => {
    const root = fakeInstall({ [LOCAL]: 'garbage', 'lib/native.ts': '' });
    const r = loadAddon('cpu', root, {});
    expect(r.ok).toBe(false);
    const message = addonLoadError(r as Extract<AddonLoadResult, { ok: false }>, root).message;
    expect(message).toContain('the CPU addon (pagedinfer_cpu.node) did not load:');
    expect(message).toContain(`${path.join(root, LOCAL)} (local build): the file is damaged`);
    expect(message).toContain('npm run build:native');
    expect(message).toContain('npm run build:gyp');
  });

  it('explains the usual dlopen failures in words', () => {
    expect(explainLoadFailure("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.33' not found (required by x.node)")).toMatch(/glibc 2.33 or newer/);
    expect(explainLoadFailure("version `GLIBCXX_3.4.30' not found")).toMatch(/newer C\+\+ runtime/);
    expect(explainLoadFailure('x.node: wrong ELF class: ELFCLASS32')).toMatch(/another architecture/);
    expect(explainLoadFailure('x.node: invalid ELF header')).toMatch(/damaged/);
    expect(explainLoadFailure('something else entirely')).toBe('');
  });
});

// Stand-in addons for the choice between CUDA and CPU.
function fakeAddon(info: AddonBackendInfo): NativeAddon {
  return { NativeModel: class {} as unknown as NativeAddon['NativeModel'], backendInfo: () => info, abiVersion: ADDON_ABI_VERSION };
}
const CPU_INFO = { name: 'cpu', available: true, simd: 'avx2', cores: 8 };
const H100 = { name: 'cuda', available: true, device: 'NVIDIA H100 80GB HBM3', driverVersion: '580.65', runtimeVersion: '13.0' };
const NO_DEVICE = { name: 'cuda', available: false, reason: 'no CUDA-capable device is detected' };

function loader(cuda: AddonLoadResult | AddonBackendInfo): (name: BackendName) => AddonLoadResult {
  return (name) => {
    if (name === 'cpu')
      return { ok: true, addon: fakeAddon(CPU_INFO), file: '/pkg/cpu.node', source: 'prebuilt', skipped: [{ file: '/pkg/build/Release/cpu.node', source: 'local build', error: 'the file is damaged' }] };
    if ('ok' in cuda) return cuda as AddonLoadResult;
    return { ok: true, addon: fakeAddon(cuda as AddonBackendInfo), file: '/pkg/cuda.node', source: 'prebuilt', skipped: [] };
  };
}
const CUDA_MISSING: AddonLoadResult = { ok: false, name: 'cuda', lookedAt: ['/pkg/prebuilds/linux-x64/pagedinfer_cuda.node'], problems: [] };
const CUDA_BROKEN: AddonLoadResult = {
  ok: false,
  name: 'cuda',
  lookedAt: ['/pkg/cuda.node'],
  problems: [{ file: '/pkg/cuda.node', source: 'prebuilt', error: 'the file is damaged (cut short: ...)' }],
};

describe('choosing the backend', () => {
  it('a GPU: the CUDA addon, "GPU found" and its name', () => {
    const { selection } = chooseBackend(undefined, loader(H100), {});
    expect(selection.name).toBe('cuda');
    expect(selection.reason).toBe('GPU found: NVIDIA H100 80GB HBM3');
  });

  it('no GPU: the CPU addon and one line that says why', () => {
    for (const [cuda, reason] of [
      [NO_DEVICE, 'no usable GPU: no CUDA-capable device is detected'],
      [CUDA_MISSING, 'no GPU support in this installation: it has no CUDA addon (pagedinfer_cuda.node)'],
      [CUDA_BROKEN, 'the CUDA addon did not load: /pkg/cuda.node failed to load: the file is damaged (cut short: ...)'],
    ] as const) {
      const { selection } = chooseBackend(undefined, loader(cuda), {});
      expect(selection.name).toBe('cpu');
      expect(selection.reason).toBe(reason);
      expect(selection.reason).not.toContain('\n');
      expect(selection.info.simd).toBe('avx2');
      // A local build that did not load is not hidden.
      expect(selection.skipped).toEqual([{ file: '/pkg/build/Release/cpu.node', source: 'local build', error: 'the file is damaged' }]);
    }
  });

  it('forced to the CPU by PAGEDINFER_BACKEND or the backend option: CUDA is not even loaded', () => {
    const never = (name: BackendName): AddonLoadResult => {
      if (name === 'cuda') throw new Error('CUDA must not be loaded');
      return loader(H100)(name);
    };
    expect(chooseBackend(undefined, never, { PAGEDINFER_BACKEND: 'cpu' }).selection).toMatchObject({
      name: 'cpu', reason: 'forced by PAGEDINFER_BACKEND=cpu', requestedBy: 'PAGEDINFER_BACKEND', cuda: { state: 'not tried' },
    });
    // The option wins over the variable.
    expect(chooseBackend('cpu', never, { PAGEDINFER_BACKEND: 'cuda' }).selection.reason).toBe("forced by the backend option ('cpu')");
    expect(chooseBackend('cuda', loader(H100), { PAGEDINFER_BACKEND: 'cpu' }).selection).toMatchObject({ name: 'cuda', reason: "forced by the backend option ('cuda')" });
    // 'auto' (the CLI's default) leaves the choice to the variable.
    expect(chooseBackend('auto', never, { PAGEDINFER_BACKEND: 'cpu' }).selection.reason).toBe('forced by PAGEDINFER_BACKEND=cpu');
  });

  it('forced to CUDA without a GPU or without the addon: an error that says which and what to do', () => {
    expect(() => chooseBackend(undefined, loader(NO_DEVICE), { PAGEDINFER_BACKEND: 'cuda' })).toThrow(
      /forced by PAGEDINFER_BACKEND=cuda, but there is no usable GPU: no CUDA-capable device is detected\. Use 'cpu' or 'auto'/,
    );
    expect(() => chooseBackend('cuda', loader(CUDA_MISSING), {})).toThrow(/CUDA addon \(pagedinfer_cuda\.node\) .* was not found \(forced by the backend option \('cuda'\)\)/);
  });

  it('refuses a backend name it does not know, naming where it came from', () => {
    expect(() => chooseBackend(undefined, loader(H100), { PAGEDINFER_BACKEND: 'gpu' })).toThrow(NativeError);
    expect(() => chooseBackend(undefined, loader(H100), { PAGEDINFER_BACKEND: 'gpu' })).toThrow(/PAGEDINFER_BACKEND="gpu" is not a backend/);
    expect(() => chooseBackend('metal' as 'cpu', loader(H100), {})).toThrow(/unknown backend "metal" in the backend option/);
  });
});

describe('getRuntimeInfo() in this checkout', () => {
  it('reports the addon in use, why, and the SIMD level of the CPU kernels', () => {
    const info = getRuntimeInfo({ backend: 'auto' });
    expect(info.reason).not.toContain('\n');
    if (info.backend === 'cuda') {
      // A machine with a GPU and a CUDA build.
      expect(info.reason).toMatch(/^GPU found: /);
      expect(info.gpu?.name).toBeTruthy();
    } else {
      expect(info.addon).toEqual({ path: BUILT, source: 'local build' });
      expect(info.reason).toMatch(/^(no GPU support in this installation|no usable GPU|the CUDA addon did not load)/);
    }
    expect(['avx512', 'avx2', 'baseline']).toContain(info.cpu?.simd);
    expect(info.cpu?.cores).toBeGreaterThan(0);
    const text = formatRuntimeInfo(info);
    expect(text).toMatch(/^pagedinfer: +\d+\.\d+\.\d+ \(linux-x64, Node\.js v\d+/m);
    expect(text).toContain(`backend:     ${info.backend} (${info.reason})`);
    expect(text).toContain(`addon:       ${info.addon.path} (${info.addon.source})`);
    expect(text).toMatch(/^CPU kernels: +(avx512|avx2|baseline), \d+ cores$/m);
  });

  it('PAGEDINFER_BACKEND=cpu is reported as the reason', () => {
    const before = process.env.PAGEDINFER_BACKEND;
    process.env.PAGEDINFER_BACKEND = 'cpu';
    try {
      const info = getRuntimeInfo();
      expect(info).toMatchObject({ backend: 'cpu', reason: 'forced by PAGEDINFER_BACKEND=cpu', requestedBy: 'PAGEDINFER_BACKEND', cudaAddon: { state: 'not tried' } });
    } finally {
      if (before === undefined) delete process.env.PAGEDINFER_BACKEND;
      else process.env.PAGEDINFER_BACKEND = before;
    }
  });
});
