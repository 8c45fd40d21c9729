// Every model path against the independent reference (Hugging Face transformers, float64): the
// logits at every prompt position within 1e-3 in float32, and the greedy tokens identical.
import { afterAll, describe, expect, it } from 'vitest';

import { loadHfModelSpec } from '../lib/model/hf-loader.js';
import { NativeModelRunner } from '../lib/native.js';
import { maxAbsDiff, REFERENCE_MODELS, referenceCases, referenceLogits } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { runSingleSequence } from './helpers/single-sequence.js';

describe.skipIf(!HAVE_SHARED)(sharedTitle('float32 models vs transformers (CPU backend)'), () => {
  const runners: NativeModelRunner[] = [];
  afterAll(() => runners.forEach((r) => r.close()));

  for (const model of REFERENCE_MODELS) {
    it(`${model}: prompt logits within 1e-3 and greedy ids identical`, async () => {
      const spec = await loadHfModelSpec(sharedPath('models', model));
      const runner = await NativeModelRunner.create(spec, { backend: 'cpu' });
      runners.push(runner);
      for (const c of referenceCases(model)) {
        const run = await runSingleSequence(runner, c.ids, c.greedy_ids.length);
        const diff = maxAbsDiff(run.promptLogits, referenceLogits(model, c));
        expect(diff, `max |Δlogit| over ${c.ids.length} prompt positions`).toBeLessThan(1e-3);
        expect(run.greedy).toEqual(c.greedy_ids);
      }
    });
  }
});
