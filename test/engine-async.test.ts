// Async scheduling on a real model (stories260K through the CPU addon): the same workload with
// steps chained to the one running and with each step waiting for the last, many requests at
// once: greedy, seeded sampling, n > 1, penalties (those steps are not chained), stop strings,
// aborts. Every output that was not aborted is the same; nothing leaks.
import { afterAll, describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine/engine.js';
import { loadHfModelSpec } from '../lib/model/hf-loader.js';
import { NativeModelRunner } from '../lib/native.js';
import { normalizeSamplingParams, type SamplingParamsInput } from '../lib/sampling/params.js';
import { loadHfTokenizer } from '../lib/tokenizer/hf-tokenizer.js';
import { collect, type Collected } from './helpers/collect.js';
import { CountingRunner, runArrivals } from './helpers/counting-runner.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';

interface Job {
  prompt: number[];
  params: SamplingParamsInput;
  n: number;
  arriveAt: number;
  abortAt: number | null;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Kinds in turn: greedy, seeded sampling, n = 2 seeded, penalties, stop strings; some aborted. */
function workload(count: number): Job[] {
  const rand = lcg(2024);
  return Array.from({ length: count }, (_, i) => {
    const prompt = [1, ...Array.from({ length: Math.floor(rand() * 12) }, () => 2 + Math.floor(rand() * 500))];
    const maxTokens = 8 + Math.floor(rand() * 30);
    const kinds: SamplingParamsInput[] = [
      { temperature: 0 },
      { temperature: 0.9, topP: 0.95, seed: 100 + i },
      { temperature: 0.8, topK: 20, seed: 200 + i, n: 2 },
      { temperature: 0, repetitionPenalty: 1.3, presencePenalty: 0.4 },
      { temperature: 0, stop: ['.', ' said'] },
    ];
    const params = { maxTokens, ignoreEos: rand() < 0.5, ...kinds[i % kinds.length] };
    return { prompt, params, n: params.n ?? 1, arriveAt: Math.floor(rand() * 10), abortAt: i % 7 === 6 ? 3 + Math.floor(rand() * 10) : null };
  });
}

describe.skipIf(!HAVE_SHARED)(sharedTitle('async scheduling on a real model (CPU addon)'), () => {
  let native: NativeModelRunner | null = null;
  afterAll(() => native?.close());

  async function run(jobs: Job[], asyncScheduling: boolean) {
    native ??= await NativeModelRunner.create(await loadHfModelSpec(sharedPath('models', 'stories260K')), { backend: 'cpu' });
    const tokenizer = await loadHfTokenizer(sharedPath('models', 'stories260K'));
    const runner = new CountingRunner(native);
    const engine = await Engine.create(runner, tokenizer, {
      kvCacheBytes: 96 * native.kvCacheBytesPerBlock(16),
      maxNumBatchedTokens: 64,
      asyncScheduling,
    });
    const vocabSize = engine.config.vocabSize;
    const results: Promise<Collected>[] = new Array(jobs.length);
    const aborters: AbortController[] = jobs.map(() => new AbortController());
    const submit = (step: number) =>
      jobs.forEach((j, i) => {
        if (!results[i] && j.arriveAt <= step) {
          const params = normalizeSamplingParams(j.params, { maxModelLen: 512, promptLength: j.prompt.length, vocabSize });
          results[i] = collect(engine.generate({ promptTokenIds: j.prompt }, params, { signal: aborters[i].signal }), j.n);
        }
        if (j.abortAt === step) aborters[i].abort();
      });
    const done = await runArrivals(runner, results, jobs.length, submit);
    const stats = engine.stats();
    await engine.shutdown();
    return { done, stats, chainedSteps: runner.chainedSteps, steps: runner.steps };
  }

  it('chains every step after the first of a request decoding alone', async () => {
    const r = await run([{ prompt: [1, 40, 41], params: { temperature: 0, maxTokens: 20, ignoreEos: true }, n: 1, arriveAt: 0, abortAt: null }], true);
    expect(r.done[0].tokens[0]).toHaveLength(20);
    // The prefill, then 19 decodes, each launched while the step before it ran.
    expect([r.steps, r.chainedSteps]).toEqual([20, 19]);
  });

  it('gives every request the same outputs with and without chained steps, and leaks nothing', async () => {
    const jobs = workload(30);
    const chained = await run(jobs, true);
    const waiting = await run(jobs, false);
    expect(chained.chainedSteps, 'steps chained').toBeGreaterThanOrEqual(8);
    expect(waiting.chainedSteps).toBe(0);
    for (const r of [chained, waiting]) {
      expect(r.stats.numFreeBlocks).toBe(r.stats.numBlocks);
      expect(r.stats.numRunning + r.stats.numWaiting).toBe(0);
    }
    jobs.forEach((j, i) => {
      const [a, b] = [chained.done[i], waiting.done[i]];
      expect(a.error ?? b.error).toBeNull();
      for (let k = 0; k < j.n; k++) {
        if (a.finishReasons[k] === 'abort' || b.finishReasons[k] === 'abort') {
          // Aborted at a step: the two runs may have taken one token more or less by then.
          const [short, long] = a.tokens[k].length <= b.tokens[k].length ? [a.tokens[k], b.tokens[k]] : [b.tokens[k], a.tokens[k]];
          expect(long.slice(0, short.length), `job ${i} output ${k}`).toEqual(short);
        } else {
          expect(a.tokens[k], `job ${i} output ${k} (${JSON.stringify(j.params)})`).toEqual(b.tokens[k]);
          expect([a.texts[k], a.finishReasons[k], a.stopReasons[k]]).toEqual([b.texts[k], b.finishReasons[k], b.stopReasons[k]]);
        }
      }
    });
    expect(chained.done.some((d) => d.finishReasons.includes('abort'))).toBe(true);
    expect(chained.done.some((d) => d.stopReasons.some((s) => typeof s === 'string'))).toBe(true);
  });
});
