// The native kernel tests (native/tests: every CPU op against the plain double-precision
// reference on fresh random inputs, outputs poisoned) run here as one vitest case per kernel.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { PROJECT_ROOT } from './helpers/shared.js';

const binary = path.join(PROJECT_ROOT, 'build', 'pagedinfer_kernel_tests');

function run(args: string[], simd?: string): { ok: boolean; output: string } {
  const env = simd ? { ...process.env, PAGEDINFER_SIMD: simd } : process.env;
  try {
    return { ok: true, output: execFileSync(binary, args, { encoding: 'utf8', env }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

describe('native kernels vs the reference (CPU backend)', () => {
  it('the kernel test binary was built (npm run build:native)', () => {
    expect(existsSync(binary), `${binary} is missing`).toBe(true);
  });
  const cases = existsSync(binary) ? execFileSync(binary, ['--list'], { encoding: 'utf8' }).trim().split('\n') : [];
  for (const name of cases) {
    it(name, () => {
      const { ok, output } = run(['--backend', 'cpu', '--filter', name]);
      expect(output).toContain(`PASS ${name}`);
      expect(ok, output).toBe(true);
    });
  }
  // The SIMD kernels are compiled per instruction set; test every set this CPU can run, not
  // only the one it would pick.
  for (const simd of ['baseline', 'avx2']) {
    for (const name of cases.filter((c) => /matmul|attention/.test(c))) {
      it(`${name} [${simd} kernels]`, () => {
        const { ok, output } = run(['--backend', 'cpu', '--filter', name], simd);
        expect(ok, output).toBe(true);
      });
    }
  }
});
