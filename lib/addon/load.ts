// Loads one addon by name: the first candidate (see locate.ts) that passes the file checks
// (file-check.ts: a truncated file would crash dlopen), loads, and speaks this JavaScript's addon
// ABI. A file that fails is reported, never a crash: it becomes part of a NativeError that says
// what was looked for and how to build the addon.
import { createRequire } from 'node:module';
import path from 'node:path';

import { NativeError } from '../errors.js';
import { buildAdvice, explainLoadFailure } from './advice.js';
import { checkAddonFile } from './file-check.js';
import { type AddonCandidate, type AddonSource, addonFileName, findAddon, platformTag } from './locate.js';
import { ADDON_ABI_VERSION, type BackendName, type NativeAddon } from './types.js';

export interface AddonProblem extends AddonCandidate {
  error: string;
}

export interface LoadedAddon {
  ok: true;
  addon: NativeAddon;
  file: string;
  source: AddonSource;
  /** Candidates tried before this one that failed to load. */
  skipped: AddonProblem[];
}

export interface AddonNotLoaded {
  ok: false;
  name: BackendName;
  /** Every place looked at. */
  lookedAt: string[];
  /** Files that exist but failed to load (empty: no file found). */
  problems: AddonProblem[];
}

export type AddonLoadResult = LoadedAddon | AddonNotLoaded;

function checkExports(mod: unknown): string {
  const addon = mod as Partial<NativeAddon> | null;
  if (!addon || typeof addon.NativeModel !== 'function' || typeof addon.backendInfo !== 'function')
    return 'it is not a pagedinfer addon (no NativeModel / backendInfo exports)';
  if (addon.abiVersion !== ADDON_ABI_VERSION)
    return `it was built from other native sources (addon ABI ${String(addon.abiVersion)}, this JavaScript expects ${ADDON_ABI_VERSION}); rebuild it`;
  return '';
}

function describeError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const why = explainLoadFailure(message);
  return why ? `${why} (${message.trim()})` : message.trim();
}

export function loadAddon(name: BackendName, root: string, env: NodeJS.ProcessEnv = process.env): AddonLoadResult {
  const search = findAddon(name, root, env);
  const requireAddon = createRequire(path.join(root, 'package.json'));
  const problems: AddonProblem[] = [];
  for (const candidate of search.found) {
    let mod: unknown;
    try {
      const damaged = checkAddonFile(candidate.file);
      if (damaged) {
        problems.push({ ...candidate, error: `the file is damaged (${damaged}): an interrupted install or a bad copy` });
        continue;
      }
      mod = requireAddon(candidate.file);
    } catch (e) {
      problems.push({ ...candidate, error: describeError(e) });
      continue;
    }
    const wrong = checkExports(mod);
    if (wrong) {
      problems.push({ ...candidate, error: wrong });
      continue;
    }
    return { ok: true, addon: mod as NativeAddon, file: candidate.file, source: candidate.source, skipped: problems };
  }
  return { ok: false, name, lookedAt: search.lookedAt, problems };
}

/** One line: why this addon is not available (for a selection reason or a log). */
export function notLoadedSummary(r: AddonNotLoaded): string {
  const file = addonFileName(r.name);
  if (r.problems.length === 0) return `no ${file} for ${platformTag()} in this installation`;
  const p = r.problems[0];
  return `${p.file} failed to load: ${p.error.split('\n')[0]}`;
}

/** The error for a required addon that did not load: what was looked for, what failed, and how to fix it. */
export function addonLoadError(r: AddonNotLoaded, root: string, context = ''): NativeError {
  const file = addonFileName(r.name);
  const lines: string[] = [];
  if (r.problems.length === 0) {
    lines.push(`pagedinfer: the ${r.name.toUpperCase()} addon (${file}) for ${platformTag()} was not found${context}.`, 'Looked for:');
    lines.push(...r.lookedAt.map((f) => `  ${f}`));
  } else {
    lines.push(`pagedinfer: the ${r.name.toUpperCase()} addon (${file}) did not load${context}:`);
    lines.push(...r.problems.map((p) => `  ${p.file} (${p.source}): ${p.error}`));
  }
  lines.push(buildAdvice(root, r.problems.length === 0));
  return new NativeError(lines.join('\n'));
}
