#!/usr/bin/env node
// Builds the package's JavaScript from lib/: dist/ is ES modules with type declarations (tsc), and
// dist/cjs/ the same modules as CommonJS for `require` (Node 20 cannot require() ES modules).
//
// Why esbuild, file by file: it turns each module into CommonJS without bundling, so dist/cjs/ has
// the layout of dist/ and each file stays readable. The one ESM-only construct, import.meta.url
// (in lib/package-root.ts), is defined as the file URL of __filename, given by a one-line banner in
// the files that use it. dist/cjs/package.json says "type": "commonjs", so Node and TypeScript both
// read the .js and .d.ts files there as CommonJS. The CLI (lib/cli/) is an ES module only: a bin
// needs no require().
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { transform } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = path.join(root, 'lib');
const dist = path.join(root, 'dist');
const cjs = path.join(dist, 'cjs');
const require = createRequire(import.meta.url);

function filesUnder(dir, keep) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && keep(d.name))
    .map((d) => path.join(d.parentPath, d.name));
}

// 1. ES modules and declarations. A clean dist/ keeps files of deleted sources out of the tarball.
rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], {
  stdio: 'inherit',
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

// 2. CommonJS, one file per module.
const IMPORT_META_URL = '__pagedinferImportMetaUrl';
const sources = filesUnder(lib, (f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).filter(
  (f) => !path.relative(lib, f).startsWith(`cli${path.sep}`),
);
for (const file of sources) {
  const code = readFileSync(file, 'utf8');
  const usesMeta = code.includes('import.meta.url');
  const out = await transform(code, {
    loader: 'ts',
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcefile: path.relative(root, file),
    define: { 'import.meta.url': IMPORT_META_URL },
    banner: usesMeta ? `const ${IMPORT_META_URL} = require('node:url').pathToFileURL(__filename).href;` : '',
  });
  const target = path.join(cjs, path.relative(lib, file)).replace(/\.ts$/, '.js');
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, out.code);
}

// 3. The declarations again, inside the CommonJS scope, for `require` users' TypeScript.
for (const decl of filesUnder(dist, (f) => f.endsWith('.d.ts'))) {
  const rel = path.relative(dist, decl);
  if (rel.startsWith(`cjs${path.sep}`) || rel.startsWith(`cli${path.sep}`)) continue;
  mkdirSync(path.dirname(path.join(cjs, rel)), { recursive: true });
  copyFileSync(decl, path.join(cjs, rel));
}
writeFileSync(path.join(cjs, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
console.log(`build-js: dist/ (ESM, ${sources.length} modules + CLI) and dist/cjs/ (CommonJS)`);
