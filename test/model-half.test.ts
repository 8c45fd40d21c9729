// The same models converted to bfloat16 and float16: greedy ids agree with the float64
// reference while its top-1/top-2 margin exceeds 0.1, and the prompt logits stay within 2e-2
// relative error (../shared/reference/README.md's tolerances for half precision).
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { loadHfModelSpec } from '../lib/model/hf-loader.js';
import { NativeModelRunner } from '../lib/native.js';
import { convertModelDir } from './helpers/convert-safetensors.js';
import { REFERENCE_MODELS, referenceCases, referenceLogits, relativeError, stepsAboveMargin } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { runSingleSequence } from './helpers/single-sequence.js';


describe.skipIf(!HAVE_SHARED)(sharedTitle('half-precision weights vs transformers (CPU backend)'), () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  for (const dtype of ['BF16', 'F16'] as const) {
    for (const model of REFERENCE_MODELS) {
      it(`${model} in ${dtype}: greedy ids while margins > 0.1, logits within 2e-2`, async () => {
        const dir = convertModelDir(sharedPath('models', model), dtype);
        dirs.push(dir);
        const spec = await loadHfModelSpec(dir);
        expect(spec.tensors.every((t) => t.dtype === dtype)).toBe(true);
        const runner = await NativeModelRunner.create(spec, { backend: 'cpu' });
        try {
          for (const c of referenceCases(model)) {
            const run = await runSingleSequence(runner, c.ids, c.greedy_ids.length);
            expect(relativeError(run.promptLogits, referenceLogits(model, c))).toBeLessThan(2e-2);
            const n = stepsAboveMargin(c, 0.1);
            expect(run.greedy.slice(0, n)).toEqual(c.greedy_ids.slice(0, n));
          }
        } finally {
          runner.close();
        }
      });
    }
  }
});
