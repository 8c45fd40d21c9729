// The model paths through the CUDA backend (bfloat16 activations and KV cache; float32 weights
// converted to bfloat16 on upload) against the transformers float64 reference, with the
// tolerances of ../shared/reference/README.md for half precision: logits within 2e-2 relative
// error, greedy ids identical while the reference margin exceeds 0.1. Also batched equals alone
// on the GPU while margins allow. Skipped, with the reason, where no CUDA device is usable.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine/engine.js';
import { loadHfModelSpec } from '../lib/model/hf-loader.js';
import { NativeModelRunner } from '../lib/native.js';
import { normalizeSamplingParams } from '../lib/sampling/params.js';
import { CUDA, gpuTitle } from './helpers/cuda.js';
import { REFERENCE_MODELS, referenceCases, referenceLogits, relativeError, stepsAboveMargin } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath } from './helpers/shared.js';
import { runSingleSequence } from './helpers/single-sequence.js';


// The GPU machine carries only some of the test models (see scripts/gpu/).
const models = HAVE_SHARED ? REFERENCE_MODELS.filter((m) => existsSync(sharedPath('models', m, 'config.json'))) : [];

describe.skipIf(!CUDA.available || !HAVE_SHARED)(gpuTitle('models on the CUDA backend vs transformers'), () => {
  const runners: NativeModelRunner[] = [];
  afterAll(() => runners.forEach((r) => r.close()));

  for (const model of models) {
    it(`${model}: logits within 2e-2, greedy ids while margins > 0.1`, async () => {
      const runner = await NativeModelRunner.create(await loadHfModelSpec(sharedPath('models', model)), { backend: 'cuda' });
      runners.push(runner);
      expect(runner.backend.name).toBe('cuda');
      for (const c of referenceCases(model)) {
        const run = await runSingleSequence(runner, c.ids, c.greedy_ids.length);
        expect(relativeError(run.promptLogits, referenceLogits(model, c))).toBeLessThan(2e-2);
        const n = stepsAboveMargin(c, 0.1);
        expect(run.greedy.slice(0, n)).toEqual(c.greedy_ids.slice(0, n));
      }
    });

    it(`${model}: an engine re-created on the same model sizes its KV pool from the same memory`, async () => {
      const runner = await NativeModelRunner.create(await loadHfModelSpec(sharedPath('models', model)), { backend: 'cuda' });
      runners.push(runner);
      const first = await Engine.create(runner, null, { kvCacheFraction: 0.5 });
      const blocks = first.stats().numBlocks;
      await first.shutdown();
      const second = await Engine.create(runner, null, { kvCacheFraction: 0.5 });
      expect(second.stats().numBlocks).toBeGreaterThan(0.95 * blocks);
      await second.shutdown();
      runner.initKvCache(1, 16);  // give the memory back before the next test
    });

    it(`${model}: many concurrent requests give the greedy tokens each gives alone`, async () => {
      const runner = await NativeModelRunner.create(await loadHfModelSpec(sharedPath('models', model)), { backend: 'cuda' });
      runners.push(runner);
      const cases = referenceCases(model);
      const engine = await Engine.create(runner, null, { kvCacheBytes: 512 * runner.kvCacheBytesPerBlock(16) });
      try {
        const params = (len: number) =>
          normalizeSamplingParams({ temperature: 0, ignoreEos: true, maxTokens: 48 }, { maxModelLen: 2048, promptLength: len, vocabSize: runner.config.vocabSize });
        const run = async (ids: number[]) => {
          const out: number[] = [];
          for await (const chunk of engine.generate({ promptTokenIds: ids }, params(ids.length))) out.push(...chunk.tokenIds);
          return out;
        };
        const alone: number[][] = [];
        for (const c of cases) alone.push(await run(c.ids));
        // Every case 8 times over, all at once: 8x the batch, same tokens while margins allow.
        const batched = await Promise.all(cases.flatMap((c) => Array.from({ length: 8 }, () => run(c.ids))));
        cases.forEach((c, i) => {
          const n = stepsAboveMargin(c, 0.1);
          for (let k = 0; k < 8; k++) expect(batched[i * 8 + k].slice(0, n)).toEqual(alone[i].slice(0, n));
        });
      } finally {
        await engine.shutdown();
      }
    });
  }
});
