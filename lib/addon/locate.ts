// Where an addon may be, in the order it is tried. Addons are picked by file name
// (pagedinfer_cpu.node, pagedinfer_cuda.node): node-gyp-build would take the first .node of a
// prebuilds folder, which is wrong with two addons side by side.
//
//   1. PAGEDINFER_ADDON_DIR, when set: that folder only (a build of your own, kept elsewhere).
//   2. A local build (`npm rebuild`, `npm run build:native`, node-gyp): the `bindings` package's
//      lookup under the package root (build/Release, build/Debug, out/..., compiled/...). As with
//      node-gyp-build, a build made on this machine wins over the shipped prebuild.
//   3. The prebuild shipped in the package: prebuilds/<platform>-<arch>/pagedinfer_<name>.node.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

import bindings from 'bindings';

import type { BackendName } from './types.js';

export type AddonSource = 'PAGEDINFER_ADDON_DIR' | 'local build' | 'prebuilt';

export interface AddonCandidate {
  file: string;
  source: AddonSource;
}

export interface AddonSearch {
  /** Files that exist, best first. */
  found: AddonCandidate[];
  /** Every place looked at, for the error when nothing loads. */
  lookedAt: string[];
}

export function addonFileName(name: BackendName): string {
  return `pagedinfer_${name}.node`;
}

export function platformTag(): string {
  return `${process.platform}-${process.arch}`;
}

/** The platforms this installation has prebuilt addons for (folder names under prebuilds/). */
export function prebuiltPlatforms(root: string): string[] {
  const dir = path.join(root, 'prebuilds');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && readdirSync(path.join(dir, d.name)).some((f) => f.endsWith('.node')))
    .map((d) => d.name)
    .sort();
}

function localBuild(file: string, root: string): { found?: string; tried: string[] } {
  try {
    const found = bindings({ bindings: file, module_root: root, path: true });
    return { found, tried: [found] };
  } catch (e) {
    const tried = (e as { tries?: string[] }).tries;
    if (!tried) throw e;
    return { tried };
  }
}

export function findAddon(name: BackendName, root: string, env: NodeJS.ProcessEnv = process.env): AddonSearch {
  const file = addonFileName(name);
  const dir = env.PAGEDINFER_ADDON_DIR;
  if (dir) {
    const only = path.resolve(dir, file);
    return { found: existsSync(only) ? [{ file: only, source: 'PAGEDINFER_ADDON_DIR' }] : [], lookedAt: [only] };
  }
  const local = localBuild(file, root);
  const prebuilt = path.join(root, 'prebuilds', platformTag(), file);
  const found: AddonCandidate[] = [];
  if (local.found) found.push({ file: local.found, source: 'local build' });
  if (existsSync(prebuilt)) found.push({ file: prebuilt, source: 'prebuilt' });
  return { found, lookedAt: [...local.tried, prebuilt] };
}
