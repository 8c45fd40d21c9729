// What to tell a user whose addon is missing or does not load: what went wrong, in words, and the
// command that fixes it. Kept apart from the loading so the wording can be read (and tested) alone.
import { existsSync } from 'node:fs';
import path from 'node:path';

import { platformTag, prebuiltPlatforms } from './locate.js';

/** A short explanation of a dlopen/require failure, or '' when there is nothing to add. */
export function explainLoadFailure(message: string): string {
  const glibc = /GLIBC_(\d+\.\d+)' not found/.exec(message);
  if (glibc)
    return `it needs glibc ${glibc[1]} or newer, and this system's is older (see \`ldd --version\`); build it from source instead`;
  if (/GLIBCXX_|CXXABI_/.test(message))
    return "it needs a newer C++ runtime (libstdc++) than this system's; build it from source instead";
  if (/invalid ELF header|file too short|ELF load command|cannot read file data/i.test(message))
    return 'the file is damaged (truncated, or not a shared library): an interrupted install or a bad copy';
  if (/wrong ELF class|ELF file's machine|machine type/i.test(message)) return 'it was built for another architecture';
  if (/Error relocating|symbol not found/i.test(message))
    return 'it was built for another C library (glibc vs musl)';
  return '';
}

/** True in a git checkout of pagedinfer (sources beside the package.json), false in an installed package. */
function isCheckout(root: string): boolean {
  return existsSync(path.join(root, 'lib', 'native.ts'));
}

/**
 * How to get a working addon, for this installation. `missing`: no file was found at all, which in
 * an installed package usually means its install script did not run (or could not build).
 */
export function buildAdvice(root: string, missing: boolean): string {
  if (isCheckout(root))
    return 'Build it in the checkout with `npm run build:native` (CMake; also builds the CUDA addon when nvcc is found) or `npm run build:gyp` (node-gyp, CPU addon only).';
  const have = prebuiltPlatforms(root);
  const lines = [
    have.includes(platformTag())
      ? `This package ships a prebuilt addon for ${platformTag()}: reinstalling pagedinfer (\`npm ci\`, or remove node_modules/pagedinfer and run \`npm install\`) restores it.`
      : `This package has no prebuilt addon for ${platformTag()} (it has ${have.length ? have.join(', ') : 'none'}), so it must be built from source.`,
    'To build from source: `npm rebuild pagedinfer --build-from-source` (needs a C++17 compiler; with CMake 3.18+ it also builds the CUDA addon when nvcc is found).',
  ];
  if (missing)
    lines.push(
      'If npm skipped pagedinfer\'s install script (npm 11.16+ lists it under "install scripts not yet covered by allowScripts"; npm 12 blocks it), run `npm install-scripts approve pagedinfer`, then `npm rebuild pagedinfer`.',
    );
  return lines.join('\n');
}
