// Tests that run the CLI run the compiled JavaScript (dist/): compile it from the current sources
// unless it is already newer than every source file (CI's `npm ci` has just built it).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { PROJECT_ROOT } from './shared.js';

export const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export function buildDist(): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs > newestSource(path.join(PROJECT_ROOT, 'lib'))) return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
}
