// The engine on real models through the native CPU addon: batched greedy equals alone, the
// reference greedy ids, forced preemption, prefix caching, n > 1 with a seed, stop strings.
import { afterAll, describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine/engine.js';
import type { EngineOptions } from '../lib/engine/types.js';
import { CapacityError } from '../lib/errors.js';
import { loadHfModelSpec } from '../lib/model/hf-loader.js';
import { NativeModelRunner } from '../lib/native.js';
import { normalizeSamplingParams, type SamplingParamsInput } from '../lib/sampling/params.js';
import { loadHfTokenizer } from '../lib/tokenizer/hf-tokenizer.js';
import { collect } from './helpers/collect.js';
import { CountingRunner, runArrivals } from './helpers/counting-runner.js';
import { referenceCases } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';

const MODELS = ['stories260K', 'llama-tiny-random', 'llama3-tiny-random', 'qwen2-tiny-random', 'qwen3-tiny-random'] as const;
const runners = new Map<string, NativeModelRunner>();

async function runnerFor(model: string): Promise<NativeModelRunner> {
  let r = runners.get(model);
  if (!r) {
    r = await NativeModelRunner.create(await loadHfModelSpec(sharedPath('models', model)), { backend: 'cpu' });
    runners.set(model, r);
  }
  return r;
}

async function engineFor(model: string, options: EngineOptions = {}) {
  const runner = new CountingRunner(await runnerFor(model));
  const engine = await Engine.create(runner, null, { kvCacheBytes: 256 * runner.kvCacheBytesPerBlock(16), ...options });
  return { runner, engine };
}

function params(input: SamplingParamsInput, promptLength: number, vocabSize: number) {
  return normalizeSamplingParams({ temperature: 0, ignoreEos: true, ...input }, { maxModelLen: 512, promptLength, vocabSize });
}

/** A small deterministic generator, so a failure names the prompt that failed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

interface Job {
  prompt: number[];
  maxTokens: number;
  arriveAt: number;
}

function randomJobs(seed: number, count: number, vocab: number): Job[] {
  const rand = lcg(seed);
  return Array.from({ length: count }, () => ({
    prompt: [1, ...Array.from({ length: 1 + Math.floor(rand() * 40) }, () => 2 + Math.floor(rand() * (Math.min(vocab, 500) - 2)))],
    maxTokens: 4 + Math.floor(rand() * 20),
    arriveAt: Math.floor(rand() * 12),
  }));
}

/** Each job alone: one request at a time, nothing cached. */
async function alone(model: string, jobs: Job[]): Promise<number[][]> {
  const { engine } = await engineFor(model, { enablePrefixCaching: false });
  const vocab = engine.config.vocabSize;
  const out: number[][] = [];
  for (const j of jobs) out.push((await collect(engine.generate({ promptTokenIds: j.prompt }, params({ maxTokens: j.maxTokens }, j.prompt.length, vocab)))).tokens[0]);
  await engine.shutdown();
  return out;
}

/** All jobs through one engine, each arriving at its step. */
async function batched(model: string, jobs: Job[], options: EngineOptions = {}) {
  const { engine, runner } = await engineFor(model, options);
  const vocab = engine.config.vocabSize;
  const results: Promise<Awaited<ReturnType<typeof collect>>>[] = new Array(jobs.length);
  const submit = (step: number) =>
    jobs.forEach((j, i) => {
      if (!results[i] && j.arriveAt <= step)
        results[i] = collect(engine.generate({ promptTokenIds: j.prompt }, params({ maxTokens: j.maxTokens }, j.prompt.length, vocab)));
    });
  const done = await runArrivals(runner, results, jobs.length, submit);
  const stats = engine.stats();
  await engine.shutdown();
  return { done, stats, runner };
}

describe.skipIf(!HAVE_SHARED)(sharedTitle('engine on real models (CPU addon)'), () => {
  afterAll(() => runners.forEach((r) => r.close()));

  for (const model of MODELS) {
    it(`${model}: requests arriving at random steps get exactly their greedy tokens alone`, async () => {
      const jobs = randomJobs(model.length * 7919, 16, (await runnerFor(model)).config.vocabSize);
      const want = await alone(model, jobs);
      const { done, runner } = await batched(model, jobs, { maxNumBatchedTokens: 32 });
      done.forEach((d, i) => {
        expect(d.error).toBeNull();
        expect(d.tokens[0], `job ${i}, prompt ${JSON.stringify(jobs[i].prompt)}`).toEqual(want[i]);
      });
      expect(runner.maxSeqsInStep).toBeGreaterThan(1);
    });

    it(`${model}: a pool too small for all at once preempts and still gives the same tokens`, async () => {
      const jobs = randomJobs(model.length * 104729, 8, (await runnerFor(model)).config.vocabSize).map((j) => ({ ...j, arriveAt: 0 }));
      const want = await alone(model, jobs);
      const largest = Math.max(...jobs.map((j) => Math.ceil((j.prompt.length + j.maxTokens) / 4)));
      const bytes = (largest + 2) * (await runnerFor(model)).kvCacheBytesPerBlock(4);
      const { done, stats } = await batched(model, jobs, { blockSize: 4, kvCacheBytes: bytes });
      done.forEach((d, i) => {
        expect(d.error).toBeNull();
        expect(d.tokens[0], `job ${i}`).toEqual(want[i]);
      });
      expect(stats.numPreemptions).toBeGreaterThan(0);
    });
  }

  it('every reference case: the first 48 greedy ids of transformers, all cases batched together', async () => {
    for (const model of ['stories260K', 'llama-tiny-random', 'llama3-tiny-random', 'qwen2-tiny-random', 'qwen3-tiny-random']) {
      const { engine } = await engineFor(model);
      const cases = referenceCases(model);
      const runs = cases.map((c) =>
        collect(engine.generate({ promptTokenIds: c.ids }, params({ maxTokens: 48 }, c.ids.length, engine.config.vocabSize))),
      );
      const done = await Promise.all(runs);
      done.forEach((d, i) => expect(d.tokens[0], `${model} case ${i}`).toEqual(cases[i].greedy_ids.slice(0, 48)));
      await engine.shutdown();
    }
  });

  it('prefix caching: a second request computes only its new blocks and gets the same tokens', async () => {
    const model = 'llama-tiny-random';
    const rand = lcg(99);
    const shared = [1, ...Array.from({ length: 47 }, () => 2 + Math.floor(rand() * 400))];
    const second = [...shared, 11, 12, 13, 14, 15];
    const [want] = await alone(model, [{ prompt: second, maxTokens: 6, arriveAt: 0 }]);
    const { engine, runner } = await engineFor(model);
    const vocab = engine.config.vocabSize;
    await collect(engine.generate({ promptTokenIds: [...shared, 40] }, params({ maxTokens: 3 }, 49, vocab)));
    const before = runner.computedTokens;
    const res = await collect(engine.generate({ promptTokenIds: second }, params({ maxTokens: 6 }, second.length, vocab)));
    // 48 cached tokens (3 blocks of 16): 5 prompt tokens to compute, then 5 decode steps.
    expect(runner.computedTokens - before).toBe(5 + 5);
    expect(res.usage!.cachedPromptTokens).toBe(48);
    expect(res.tokens[0]).toEqual(want);
    expect(engine.stats().prefixCacheHits).toBe(48);
    await engine.shutdown();
  });

  it('rejects at admission what the pool can never hold; abort mid-stream frees the blocks', async () => {
    const { engine } = await engineFor('stories260K', { kvCacheBytes: 4 * (await runnerFor('stories260K')).kvCacheBytesPerBlock(16) });
    expect(() => engine.generate({ promptTokenIds: [1, 2, 3] }, params({ maxTokens: 62 }, 3, 512))).toThrow(CapacityError);
    const ac = new AbortController();
    let n = 0;
    let last = null;
    for await (const c of engine.generate({ promptTokenIds: [1] }, params({ maxTokens: 60 }, 1, 512), { signal: ac.signal })) {
      last = c;
      if (++n === 5) ac.abort();
    }
    expect([n, last!.finishReason]).toEqual([6, 'abort']);
    // Its blocks return once the step in flight at the abort is back: after the next request, surely.
    await collect(engine.generate({ promptTokenIds: [1] }, params({ maxTokens: 2 }, 1, 512)));
    expect(engine.stats().numFreeBlocks).toBe(4);
    await engine.shutdown();
  });

  it('n > 1 with a seed gives the same outputs however the request is batched', async () => {
    const model = 'stories260K';
    const sampled = (seed: number) => params({ maxTokens: 30, n: 3, temperature: 0.9, topP: 0.95, seed }, 1, 512);
    const { engine } = await engineFor(model);
    const aloneRun = await collect(engine.generate({ promptTokenIds: [1] }, sampled(1234)), 3);
    const others = [5, 6, 7].map((s) => collect(engine.generate({ promptTokenIds: [1, 400, 401] }, sampled(s)), 3));
    const together = await collect(engine.generate({ promptTokenIds: [1] }, sampled(1234)), 3);
    await Promise.all(others);
    expect(together.tokens).toEqual(aloneRun.tokens);
    expect(new Set(aloneRun.tokens.map((t) => t.join())).size).toBe(3);
    await engine.shutdown();
  });

  it('stop strings and stop token ids end the output (stories260K text)', async () => {
    const runner = await runnerFor('stories260K');
    const tokenizer = await loadHfTokenizer(sharedPath('models', 'stories260K'));
    const engine = await Engine.create(runner, tokenizer, { kvCacheBytes: 64 * runner.kvCacheBytesPerBlock(16) });
    const greedy = (input: SamplingParamsInput) => params({ maxTokens: 60, ignoreEos: false, ...input }, 1, 512);
    const free = await collect(engine.generate({ promptTokenIds: [1] }, greedy({})));
    expect(free.texts[0]).toBe(tokenizer.decode(free.tokens[0]));
    expect(free.texts[0]).toMatch(/^Once upon a time, there was a little girl named Lily\./);

    const byString = await collect(engine.generate({ promptTokenIds: [1] }, greedy({ stop: ['Lily', 'never'] })));
    expect(byString.texts[0]).toBe('Once upon a time, there was a little girl named ');
    expect([byString.finishReasons[0], byString.stopReasons[0]]).toEqual(['stop', 'Lily']);
    expect(free.tokens[0].slice(0, byString.tokens[0].length)).toEqual(byString.tokens[0]);

    const stopId = free.tokens[0][6];
    const byId = await collect(engine.generate({ promptTokenIds: [1] }, greedy({ stopTokenIds: [stopId] })));
    const cut = free.tokens[0].indexOf(stopId) + 1;
    expect(byId.tokens[0]).toEqual(free.tokens[0].slice(0, cut));
    expect([byId.finishReasons[0], byId.stopReasons[0]]).toEqual(['stop', stopId]);
    expect(byId.texts[0]).toBe(tokenizer.decode(free.tokens[0].slice(0, cut - 1)));
    await engine.shutdown();
  });
});
