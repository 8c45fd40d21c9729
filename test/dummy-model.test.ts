// Dummy weights: every preset parses, and a random-weight model runs, gives finite logits, and is
// the same model for the same seed (another seed, another model).
import { describe, expect, it } from 'vitest';

import { dummyPresets, loadDummySpec } from '../lib/model/dummy.js';
import { NativeModelRunner } from '../lib/native.js';
import { runSingleSequence } from './helpers/single-sequence.js';

describe('dummy weights (loadFormat "dummy")', () => {
  it('bundles the shapes benchmarks use, with the real models\' sizes', () => {
    expect(dummyPresets()).toEqual(expect.arrayContaining(['llama-3-8b', 'llama-3.2-1b', 'qwen2.5-7b']));
    const l8 = loadDummySpec('llama-3-8b').config;
    expect([l8.hiddenSize, l8.numLayers, l8.numHeads, l8.numKvHeads, l8.vocabSize, l8.intermediateSize]).toEqual([4096, 32, 32, 8, 128256, 14336]);
    expect(loadDummySpec('llama-3.2-1b').config.rope.scaling?.type).toBe('llama3');
    expect(loadDummySpec('qwen2.5-7b').config.attentionBias).toBe(true);
    expect(() => loadDummySpec('no-such-preset')).toThrow(/not a preset/);
  });

  it('runs a random-weight model: finite logits, same seed same model', async () => {
    const spec = loadDummySpec('tiny-llama');
    const prompt = [1, 50, 900, 77, 4000, 12];
    const results: number[][] = [];
    for (const [dtype, seed] of [['F32', 7], ['F32', 7], ['F32', 8], ['BF16', 7]] as const) {
      const runner = await NativeModelRunner.create(spec, { backend: 'cpu', loadFormat: 'dummy', dummyDType: dtype, seed });
      try {
        const run = await runSingleSequence(runner, prompt, 6);
        expect(run.promptLogits.every(Number.isFinite)).toBe(true);
        expect(new Set(run.promptLogits).size).toBeGreaterThan(1000);
        results.push(run.greedy);
      } finally {
        runner.close();
      }
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).not.toEqual(results[0]);
  });
});
