// The folder pagedinfer is installed in (package.json, prebuilds/, build/, presets/, models/), found
// from this module's own file. This is the one place that reads import.meta.url: the CommonJS build
// (scripts/build-js.mjs) has esbuild define it from __filename, so both formats share this code.
// Walking up to the package.json named "pagedinfer" keeps the answer right wherever this file sits:
// lib/ under vitest, dist/, or dist/cjs/ (whose own package.json only sets "type").
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'pagedinfer';

let cached: string | undefined;

function isPackageRoot(dir: string): boolean {
  const file = path.join(dir, 'package.json');
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
}

/** The absolute path of the installed package (or of the checkout, in development). */
export function packageRoot(): string {
  if (cached) return cached;
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (isPackageRoot(dir)) return (cached = dir);
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`pagedinfer: no package.json named "${PACKAGE_NAME}" above ${start}; the package's files were moved apart`);
}

/** pagedinfer's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
