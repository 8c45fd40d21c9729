// The GGUF F32 fixtures through the CPU runner give the transformers reference: this checks the
// ModelSpec a GGUF file produces (offsets, outermost-first shapes, the interleaved rope layout of
// llama files, rope_freqs) end to end, against the same reference as the safetensors path.
import { afterAll, describe, expect, it } from 'vitest';

import { loadGgufModelSpec } from '../lib/model/gguf-model.js';
import { NativeModelRunner } from '../lib/native.js';
import { maxAbsDiff, REFERENCE_MODELS, referenceCases, referenceLogits } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { runSingleSequence } from './helpers/single-sequence.js';

describe.skipIf(!HAVE_SHARED)(sharedTitle('GGUF F32 fixtures vs transformers (CPU backend)'), () => {
  const runners: NativeModelRunner[] = [];
  afterAll(() => runners.forEach((r) => r.close()));

  const files = REFERENCE_MODELS.map((m) => [m, sharedPath('models', 'gguf', `${m}-F32.gguf`)]);
  files.push(['stories260K', sharedPath('models', 'stories260K-gguf', 'stories260K.gguf')]);
  for (const [model, file] of files) {
    it(`${file.split('/').pop()}: prompt logits within 1e-3 and greedy ids identical`, async () => {
      const runner = await NativeModelRunner.create(loadGgufModelSpec(file), { backend: 'cpu' });
      runners.push(runner);
      for (const c of referenceCases(model)) {
        const run = await runSingleSequence(runner, c.ids, c.greedy_ids.length);
        expect(maxAbsDiff(run.promptLogits, referenceLogits(model, c)), `max |Δlogit| over ${c.ids.length} prompt positions`).toBeLessThan(1e-3);
        expect(run.greedy).toEqual(c.greedy_ids);
      }
    });
  }
});
