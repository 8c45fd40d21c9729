// The rewind of async scheduling, over the context-hash model: step N's host sampler redid a row
// (StepResult.resampledRows) after the chained step N+1 had read its device id (token 0). The
// sequence's N+1 result must be dropped and the position recomputed with the real token: outputs
// equal a run without redone rows, one step more, and no block leaks or wrong prefix-cache entry.
import { describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine/engine.js';
import type { KvCache } from '../lib/engine/kv-cache.js';
import { outputSeeds } from '../lib/engine/seeds.js';
import { normalizeSamplingParams, type SamplingParamsInput } from '../lib/sampling/params.js';
import { collect } from './helpers/collect.js';
import { ContextHashRunner, expectedTokens, type ContextHashOptions } from './helpers/context-hash-runner.js';
import { checkPool } from './helpers/kv-invariants.js';

const VOCAB = 50;

function params(input: SamplingParamsInput, promptLength: number) {
  return normalizeSamplingParams({ temperature: 0, ignoreEos: true, ...input }, { maxModelLen: 4096, promptLength, vocabSize: VOCAB });
}

/**
 * One request, then (prefix caching) a second whose prompt is the first's prompt and output: it
 * reads the first one's cached blocks, so a block cached with a wrong token gives wrong tokens.
 */
async function generate(prompt: number[], input: SamplingParamsInput, runnerOptions: ContextHashOptions, blockSize = 4) {
  const runner = new ContextHashRunner({ vocabSize: VOCAB, ...runnerOptions });
  const engine = await Engine.create(runner, null, { kvCacheBytes: 64 * blockSize * 4, blockSize });
  const kv = (engine as unknown as { kv: KvCache }).kv;
  const res = await collect(engine.generate({ promptTokenIds: prompt }, params(input, prompt.length)), input.n ?? 1);
  const steps = runner.batches.length;
  const follow = [...prompt, ...res.tokens[0]];
  const hits = kv.counters.prefixCacheHits;
  const second = await collect(engine.generate({ promptTokenIds: follow }, params({ maxTokens: 3 }, follow.length)));
  expect(kv.counters.prefixCacheHits, 'the second request read cached blocks').toBeGreaterThan(hits);
  expect(second.tokens[0]).toEqual(expectedTokens(follow, 3, VOCAB, null));
  checkPool(kv, []);
  expect(engine.stats().numFreeBlocks).toBe(engine.stats().numBlocks);
  await engine.shutdown();
  return { res, runner, steps };
}

describe('async scheduling: a chained step that read a redone row', () => {
  it('recomputes that position and gives the tokens of a run without redone rows', async () => {
    const prompt = [3, 1, 4, 1, 5];
    const want = expectedTokens(prompt, 12, VOCAB, null);
    for (const redoAt of [0, 1, 4, 7]) {
      const plain = await generate(prompt, { maxTokens: 12 }, {});
      const redone = await generate(prompt, { maxTokens: 12 }, { resample: (n, row) => n === redoAt && row === 0 });
      expect(plain.res.tokens[0]).toEqual(want);
      expect(redone.res.tokens[0], `redone at step ${redoAt}`).toEqual(want);
      expect(redone.runner.numResampledRows).toBe(1);
      // The chained step's result was dropped: one step more.
      expect(redone.steps).toBe(plain.steps + 1);
    }
  });

  it('with prefix caching across block boundaries (block size 1), seeds, and a fork', async () => {
    const prompt = [7, 8, 9];
    const seeds = outputSeeds(99n, 3);
    const { res, runner } = await generate(prompt, { maxTokens: 9, temperature: 1, seed: 99, n: 3 }, { resample: (n, row) => n % 3 === 0 && row % 2 === 0 }, 1);
    expect(runner.numResampledRows).toBeGreaterThan(2);
    for (let k = 0; k < 3; k++) expect(res.tokens[k], `output ${k}`).toEqual(expectedTokens(prompt, 9, VOCAB, seeds[k]));
  });

  it('the sequence still finishes on time when the redone row was its last token', async () => {
    const prompt = [2, 2];
    const { res } = await generate(prompt, { maxTokens: 3 }, { resample: (n, row) => n === 2 && row === 0 });
    expect(res.tokens[0]).toEqual(expectedTokens(prompt, 3, VOCAB, null));
    expect(res.finishReasons[0]).toBe('length');
  });
});

