// Packs pagedinfer as `npm publish` would and installs the tarball into a scratch project as a
// user's `npm install` does, with a PATH that hides build tools. Used by test/package-*.test.ts.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PROJECT_ROOT } from './shared.js';

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): RunResult {
  const r = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `run`, but throws with the output when the command fails. */
export function runOk(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): RunResult {
  const r = run(command, args, options);
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

const scratchDirs: string[] = [];

/** A new folder under the OS temp dir, removed by removeScratchDirs(). */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `pagedinfer-${prefix}-`));
  scratchDirs.push(dir);
  return dir;
}

/** Removes this test file's scratch folders (an installed app is ~12 MB); PAGEDINFER_KEEP_SCRATCH=1 keeps them to look at. */
export function removeScratchDirs(): void {
  if (process.env.PAGEDINFER_KEEP_SCRATCH === '1') return;
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A folder of links to the executables of the current PATH that `keep` accepts (the first of each
 * name, as PATH lookup would find it), to use as a whole PATH.
 */
export function filteredPath(keep: (name: string) => boolean): string {
  const bin = scratchDir('bin');
  const seen = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (seen.has(name) || !keep(name) || !executable(path.join(dir, name))) continue;
      seen.add(name);
      symlinkSync(path.join(dir, name), path.join(bin, name));
    }
  }
  return bin;
}

/** An environment whose PATH is only `bin`, without compiler variables. */
export function envWithPath(bin: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin, ...extra };
  for (const k of ['CC', 'CXX', 'CUDACXX', 'CUDA_PATH', 'PAGEDINFER_ADDON_DIR', 'PAGEDINFER_BACKEND', 'PAGEDINFER_BUILD_FROM_SOURCE']) {
    if (!(k in extra)) delete env[k];
  }
  // Scripts npm runs for this test (the outer `npm test`) must not leak into the inner npm.
  for (const k of Object.keys(env)) if (k.startsWith('npm_') && !(k in extra)) delete env[k];
  return env;
}

export interface PackedTarball {
  file: string;
  /** Bytes of the .tgz. */
  size: number;
  unpackedSize: number;
  files: string[];
}

/** Builds the prebuilt addons, then `npm pack` (whose prepare script builds dist/). */
export function packPackage(dest: string): PackedTarball {
  runOk(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'prebuild.mjs')], { cwd: PROJECT_ROOT, env: envWithoutNpm() });
  const r = runOk('npm', ['pack', '--json', '--pack-destination', dest], { cwd: PROJECT_ROOT, env: envWithoutNpm() });
  // The prepare script prints before npm's JSON.
  const json = JSON.parse(r.stdout.slice(r.stdout.indexOf('[\n'))) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const { filename, size, unpackedSize, files } = json[0];
  return { file: path.join(dest, filename), size, unpackedSize, files: files.map((f) => f.path) };
}

function envWithoutNpm(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  return env;
}

/**
 * A scratch project with the tarball installed. Dependencies come from npm's cache when it has them
 * (--prefer-offline), so the test needs the registry only for what `npm ci` did not fetch.
 */
export function installTarball(tarball: string, env: NodeJS.ProcessEnv): { app: string; log: string } {
  const app = scratchDir('app');
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const r = runOk('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: app, env });
  return { app, log: r.stdout + r.stderr };
}

export function installedRoot(app: string): string {
  return path.join(app, 'node_modules', 'pagedinfer');
}
