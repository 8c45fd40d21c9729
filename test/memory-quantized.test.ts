// A quantized model costs about its file size in resident memory, not its float32 size: the CPU
// backend computes on the memory-mapped blocks and never makes a float copy. Measured in a
// child process (scripts/rss-probe.mjs: RSS growth from loading the model and one prefill that
// touches every weight) on a generated 31M-parameter llama (F32 126 MB), so that the engine's
// fixed costs are small beside the weights.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PROJECT_ROOT } from './helpers/shared.js';
import { buildDist } from './helpers/dist.js';
import { shapeParameters, writeLlamaGguf, type SyntheticType } from '../lib/model/synthetic-gguf.js';

const MiB = 2 ** 20;
// The engine's own first step: code pages of the kernels, scratch buffers, thread stacks, the
// KV cache (0.5 MiB here). Measured 9-11 MiB on every type.
const FIXED_OVERHEAD = 16 * MiB;

interface Probe {
  rssGrowth: number;
  anonGrowth: number;
  fileGrowth: number;
}

describe.skipIf(process.platform !== 'linux')('resident memory of quantized models (CPU backend)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pagedinfer-mem-'));
  let f32Bytes = 0;
  beforeAll(() => {
    buildDist();  // the probe runs the compiled library
    // Weight bytes of the same model in float32 (norms included).
    f32Bytes = shapeParameters('mem-30m') * 4;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const type of ['Q4_0', 'Q4_K_M', 'Q8_0'] as SyntheticType[]) {
    it(`${type}: RSS grows by about the file size, not by float32 weights`, () => {
      const file = path.join(dir, `mem-${type}.gguf`);
      writeLlamaGguf(file, { shape: 'mem-30m', type, seed: 3 });
      const fileBytes = statSync(file).size;
      const out = execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'rss-probe.mjs'), file], { encoding: 'utf8', env: { ...process.env, PAGEDINFER_BACKEND: 'cpu' } });
      const p = JSON.parse(out.trim().split('\n').pop()!) as Probe;
      const detail = `file ${(fileBytes / MiB).toFixed(1)} MiB, float32 ${(f32Bytes / MiB).toFixed(1)} MiB, RSS +${(p.rssGrowth / MiB).toFixed(1)} MiB (anonymous +${(p.anonGrowth / MiB).toFixed(1)}, file-backed +${(p.fileGrowth / MiB).toFixed(1)})`;
      // Near the file: every mapped page once, plus the fixed overhead.
      expect(p.rssGrowth, detail).toBeLessThan(fileBytes + FIXED_OVERHEAD);
      // Far from a float copy: even a float16 copy (half the float32 bytes) would exceed this.
      expect(p.rssGrowth / f32Bytes, detail).toBeLessThan(0.5);
      // Private memory holds no weights (a dequantized copy of any layer would show here).
      expect(p.anonGrowth, detail).toBeLessThan(FIXED_OVERHEAD);
      // The weights were really read: the mapped file became resident.
      expect(p.fileGrowth, detail).toBeGreaterThan(0.9 * fileBytes);
    });
  }
});
