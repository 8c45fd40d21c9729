// The native runner's contract beyond the forward: backend selection says why, ceilings are
// measured, bad step batches are refused with a clear error and the model keeps working.
import { describe, expect, it } from 'vitest';

import { NativeError } from '../lib/errors.js';
import { loadDummySpec } from '../lib/model/dummy.js';
import { NativeModelRunner, selectBackend } from '../lib/native.js';
import { runSingleSequence } from './helpers/single-sequence.js';

describe('native model runner', () => {
  it('reports which addon it chose and why', () => {
    const { selection } = selectBackend('cpu');
    expect(selection.name).toBe('cpu');
    expect(selection.reason).toMatch(/forced by the backend option/);
    expect(selection.info.simd).toMatch(/avx512|avx2|baseline/);
    expect(() => selectBackend('tpu' as 'cpu')).toThrow(/unknown backend/);
  });

  it('measures the device ceilings', async () => {
    const runner = await NativeModelRunner.create(loadDummySpec('tiny-llama'), { backend: 'cpu', loadFormat: 'dummy', dummyDType: 'F32' });
    try {
      const c = await runner.measureCeilings();
      expect(c.copyBytesPerSecond).toBeGreaterThan(1e8);
      expect(c.matmulFlopsPerSecond).toBeGreaterThan(1e8);
      expect(c.matmulShape).toMatch(/f32/);
    } finally {
      runner.close();
    }
  });

  it('warms up only after the KV cache exists, and refuses bad sizes', async () => {
    const runner = await NativeModelRunner.create(loadDummySpec('tiny-llama'), { backend: 'cpu', loadFormat: 'dummy', dummyDType: 'F32' });
    try {
      await expect(runner.warmup(64, 4)).rejects.toThrow(/before the KV cache/);
      runner.initKvCache(4, 16);
      await expect(runner.warmup(0, 4)).rejects.toThrow(/sizes must be positive/);
      await runner.warmup(64, 4); // a no-op on the CPU, which has no per-shape setup
    } finally {
      runner.close();
    }
  });

  it('refuses a malformed step batch with a clear error and keeps serving', async () => {
    const runner = await NativeModelRunner.create(loadDummySpec('tiny-llama'), { backend: 'cpu', loadFormat: 'dummy', dummyDType: 'F32' });
    try {
      runner.initKvCache(4, 16);
      const good = () => ({
        numTokens: 2,
        numSeqs: 1,
        tokenIds: Int32Array.from([1, 2]),
        positions: Int32Array.from([0, 1]),
        queryStart: Int32Array.from([0, 2]),
        seqLens: Int32Array.from([2]),
        blockTable: Int32Array.from([0]),
        maxBlocksPerSeq: 1,
        slotMapping: Int32Array.from([0, 1]),
        logitRows: Int32Array.from([1]),
        sampling: null,
        returnLogits: true,
        blockCopies: new Int32Array(0),
      });
      const bad = [
        { ...good(), tokenIds: Int32Array.from([1, 99999]) },
        { ...good(), blockTable: Int32Array.from([7]) },
        { ...good(), slotMapping: Int32Array.from([0, 64]) },
        { ...good(), positions: Int32Array.from([0, 5]) },
        { ...good(), queryStart: Int32Array.from([0, 3]) },
        { ...good(), logitRows: Int32Array.from([2]) },
        { ...good(), tokenIds: new Float32Array([1, 2]) },
        { ...good(), blockCopies: Int32Array.from([0, 9]) },
      ];
      for (const batch of bad) await expect(runner.step(batch as never)).rejects.toBeInstanceOf(NativeError);
      const r = await runner.step(good());
      expect(r.logits?.every(Number.isFinite)).toBe(true);
      expect((await runSingleSequence(runner, [1, 2, 3], 3)).greedy).toHaveLength(3);
    } finally {
      runner.close();
    }
  });
});

describe('KV cache sizing across engines on one model', () => {
  it('counts the current cache as available, so a new engine gets the same pool', async () => {
    const runner = await NativeModelRunner.create(loadDummySpec('tiny-llama'), { backend: 'cpu', loadFormat: 'dummy', dummyDType: 'F32' });
    try {
      const before = runner.availableMemory();
      const perBlock = runner.kvCacheBytesPerBlock(16);
      const blocks = Math.floor((0.5 * before) / perBlock);
      runner.initKvCache(blocks, 16);
      // The cache is malloc'd host memory here: MemAvailable may not drop until it is touched,
      // but the reported figure must never fall below what was there before the cache existed.
      expect(runner.availableMemory()).toBeGreaterThanOrEqual(before * 0.9);
      expect(runner.availableMemory()).toBeGreaterThanOrEqual(blocks * perBlock);
    } finally {
      runner.close();
    }
  });
});
