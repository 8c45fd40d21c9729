// Async scheduling on the CUDA backend (skipped without a GPU): the engine launches each step
// while the one before it runs, its placeholder tokens gathered on the device from the previous
// step's sampled ids. Greedy ids match the transformers reference while margins allow, the same
// workload without chaining gives the same outputs (when the sampler redid no row on the host:
// a redone row recomputes a position and so changes later batches), and no block leaks.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine/engine.js';
import type { StepBatch, StepResult } from '../lib/engine/step-batch.js';
import type { ModelRunner } from '../lib/engine/types.js';
import { loadHfModelSpec } from '../lib/model/hf-loader.js';
import { NativeModelRunner } from '../lib/native.js';
import { normalizeSamplingParams, type SamplingParamsInput } from '../lib/sampling/params.js';
import { collect } from './helpers/collect.js';
import { CUDA, gpuTitle } from './helpers/cuda.js';
import { REFERENCE_MODELS, referenceCases, stepsAboveMargin } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath } from './helpers/shared.js';

const BACKEND = 'cuda' as const;
const models = HAVE_SHARED ? REFERENCE_MODELS.filter((m) => existsSync(sharedPath('models', m, 'config.json'))) : [];

/** Counts chained steps and rows the sampler redid on the host. */
function watched(inner: NativeModelRunner) {
  const seen = { chainedSteps: 0, resampledRows: 0 };
  const runner: ModelRunner = {
    config: inner.config,
    backend: inner.backend,
    supportsChainedTokens: inner.supportsChainedTokens,
    kvCacheBytesPerBlock: (b) => inner.kvCacheBytesPerBlock(b),
    availableMemory: () => inner.availableMemory(),
    initKvCache: (n, b) => inner.initKvCache(n, b),
    reserveWorkspace: (t, r) => inner.reserveWorkspace(t, r),
    step: async (batch: StepBatch): Promise<StepResult> => {
      if ((batch.chainedTokens?.length ?? 0) > 0) seen.chainedSteps++;
      const r = await inner.step(batch);
      seen.resampledRows += r.resampledRows?.length ?? 0;
      return r;
    },
  };
  return { runner, seen };
}

describe.skipIf(!CUDA.available || !HAVE_SHARED || models.length === 0)(gpuTitle('async scheduling on the CUDA backend'), () => {
  let native: NativeModelRunner | null = null;
  afterAll(() => native?.close());

  async function run(model: string, asyncScheduling: boolean, requests: { ids: number[]; params: SamplingParamsInput; n: number }[]) {
    native ??= await NativeModelRunner.create(await loadHfModelSpec(sharedPath('models', model)), { backend: BACKEND });
    const { runner, seen } = watched(native);
    const engine = await Engine.create(runner, null, { kvCacheBytes: 512 * native.kvCacheBytesPerBlock(16), asyncScheduling });
    const vocabSize = engine.config.vocabSize;
    const done = await Promise.all(
      requests.map((r) =>
        collect(engine.generate({ promptTokenIds: r.ids }, normalizeSamplingParams({ ignoreEos: true, ...r.params }, { maxModelLen: 2048, promptLength: r.ids.length, vocabSize })), r.n),
      ),
    );
    const stats = engine.stats();
    await engine.shutdown();
    expect(stats.numFreeBlocks).toBe(stats.numBlocks);
    return { done, seen };
  }

  it(`${models[0]}: greedy, seeded and n > 1 requests, chained and not, give the same outputs`, async () => {
    const model = models[0];
    const cases = referenceCases(model);
    const requests = cases.flatMap((c, i) => [
      { ids: c.ids, params: { temperature: 0, maxTokens: 48 }, n: 1 },
      { ids: c.ids, params: { temperature: 1, topP: 0.9, seed: 10 + i, maxTokens: 40 }, n: 1 },
      { ids: c.ids, params: { temperature: 0.7, topK: 40, seed: 50 + i, maxTokens: 24, n: 3 }, n: 3 },
    ]);
    const chained = await run(model, true, requests);
    const waiting = await run(model, false, requests);
    expect(chained.seen.chainedSteps).toBeGreaterThan(10);
    expect(waiting.seen.chainedSteps).toBe(0);
    cases.forEach((c, i) => {
      const n = Math.min(stepsAboveMargin(c, 0.1), 48);
      for (const r of [chained, waiting]) expect(r.done[3 * i].tokens[0].slice(0, n), `case ${i}`).toEqual(c.greedy_ids.slice(0, n));
    });
    if (chained.seen.resampledRows + waiting.seen.resampledRows === 0) {
      requests.forEach((r, i) => expect(chained.done[i].tokens, `request ${i}`).toEqual(waiting.done[i].tokens));
    }
    for (const r of [...chained.done, ...waiting.done]) expect(r.error).toBeNull();
  });
});
