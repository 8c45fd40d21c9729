// binding.gyp (node-gyp, for machines without CMake) must build the same CPU addon as
// CMakeLists.txt: the same source files, and the same files compiled once per SIMD level. A file
// added to one build and not the other would give a node-gyp addon that fails to link or lacks a
// kernel, found only by a user without CMake; this finds it in CI.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { PROJECT_ROOT } from './helpers/shared.js';

const cmake = readFileSync(path.join(PROJECT_ROOT, 'CMakeLists.txt'), 'utf8').replace(/#.*$/gm, '');

function cmakeFiles(list: string): string[] {
  return list.split(/\s+/).filter((t) => /\.(c|cc|cpp)$/.test(t));
}

/** Sources CMake gives a library: add_library(<name> STATIC|OBJECT ...) plus target_sources(<name> ...). */
function cmakeLibrary(name: string): string[] {
  const files: string[] = [];
  for (const m of cmake.matchAll(/add_library\((\S+)\s+(?:STATIC|OBJECT)\s+([^)]*)\)/g)) if (m[1] === name) files.push(...cmakeFiles(m[2]));
  for (const m of cmake.matchAll(/target_sources\((\S+)\s+(?:PRIVATE|PUBLIC)\s+([^)]*)\)/g)) if (m[1] === name) files.push(...cmakeFiles(m[2]));
  return files;
}

function cmakeCpuAddon(): string[] {
  const addonSources = /set\(PAGEDINFER_ADDON_SOURCES\s+([^)]*)\)/.exec(cmake)?.[1] ?? '';
  const cpuAddon = /pagedinfer_addon\(pagedinfer_cpu\s+([^)]*)\)/.exec(cmake)?.[1] ?? '';
  return [...cmakeLibrary('pagedinfer_core'), ...cmakeLibrary('pagedinfer_cpu_backend'), ...cmakeFiles(addonSources), ...cmakeFiles(cpuAddon)];
}

interface GypTarget {
  target_name: string;
  sources?: string[];
  cflags_cc?: string[];
}
interface Gyp {
  targets: GypTarget[];
  conditions?: [string, { targets?: GypTarget[] }][];
}

// A .gyp file is a Python literal, which reads as a JavaScript object literal once its comments go.
const gyp = new Function(`return (${readFileSync(path.join(PROJECT_ROOT, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '').replace(/\s#\s.*$/gm, '')});`)() as Gyp;
const gypTargets = [...gyp.targets, ...(gyp.conditions ?? []).flatMap(([, v]) => v.targets ?? [])];
const gypSources = (name: string) => gypTargets.find((t) => t.target_name === name)?.sources ?? [];

describe('binding.gyp builds what CMakeLists.txt builds', () => {
  it('the CPU addon from the same source files', () => {
    expect(cmakeCpuAddon().length).toBeGreaterThan(10);
    expect([...gypSources('pagedinfer_cpu')].sort()).toEqual(cmakeCpuAddon().sort());
  });

  it('the SIMD kernel files once per level, baseline, avx2 and avx512', () => {
    const levels = /set\(PAGEDINFER_SIMD_LEVELS baseline avx2 avx512\)/.test(cmake) ? ['baseline', 'avx2', 'avx512'] : ['baseline'];
    const simd = cmakeLibrary('pagedinfer_simd_${level}');
    expect(simd).toContain('native/cpu/simd_kernels.cpp');
    for (const level of levels) expect([...gypSources(`pagedinfer_simd_${level}`)].sort(), level).toEqual([...simd].sort());
  });

  it('the same compiler flags per SIMD level', () => {
    for (const level of ['avx2', 'avx512']) {
      const flags = new RegExp(`set\\(PAGEDINFER_FLAGS_${level} ([^)]*)\\)`).exec(cmake)?.[1].trim().split(/\s+/) ?? [];
      expect(flags.length, level).toBeGreaterThan(0);
      expect(gypTargets.find((t) => t.target_name === `pagedinfer_simd_${level}`)?.cflags_cc, level).toEqual(flags);
    }
  });
});
