// The Engine's behaviour at its edges, over the context-hash model: admission errors, failing
// steps, aborts, shutdown, finish reasons, logprobs, timings, priorities, chunked prefill.
import { describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine/engine.js';
import type { EngineOptions, FinishedRequest } from '../lib/engine/types.js';
import { AbortError, CapacityError, InvalidRequestError, NativeError } from '../lib/errors.js';
import { normalizeSamplingParams, type SamplingParamsInput } from '../lib/sampling/params.js';
import { collect } from './helpers/collect.js';
import type { Tokenizer } from '../lib/tokenizer/types.js';
import { ContextHashRunner, expectedTokens, type ContextHashOptions } from './helpers/context-hash-runner.js';

/** Token i reads as the letter 'a' + i % 26; decoding `poison` throws (a broken tokenizer). */
function letterTokenizer(poison: number): Tokenizer {
  const piece = (id: number) => String.fromCharCode(97 + (id % 26));
  return {
    vocabSize: VOCAB,
    bosTokenId: null,
    eosTokenIds: [],
    addsSpecialTokens: false,
    hasChatTemplate: false,
    encode: () => [],
    decode: (ids) => {
      if (ids.includes(poison)) throw new Error(`cannot decode token ${poison}`);
      return ids.map(piece).join('');
    },
    idToToken: (id) => (id >= 0 && id < VOCAB ? piece(id) : undefined),
    isSpecialToken: () => false,
    applyChatTemplate: () => {
      throw new InvalidRequestError('no chat template');
    },
  };
}

const VOCAB = 50;

function params(input: SamplingParamsInput, promptLength = 4, maxModelLen = 4096) {
  return normalizeSamplingParams({ temperature: 0, ...input }, { maxModelLen, promptLength, vocabSize: VOCAB });
}

async function setup(options: EngineOptions = {}, runnerOptions: ContextHashOptions = {}) {
  const runner = new ContextHashRunner({ vocabSize: VOCAB, ...runnerOptions });
  const engine = await Engine.create(runner, null, { kvCacheBytes: 64 * 16 * 4, ...options });
  return { runner, engine };
}

describe('Engine admission', () => {
  it('rejects bad requests before they run and keeps serving', async () => {
    const { engine } = await setup({ maxModelLen: 64 });
    const ok = params({ maxTokens: 4 });
    expect(() => engine.generate({ promptTokenIds: [] }, ok)).toThrow(InvalidRequestError);
    expect(() => engine.generate({ promptTokenIds: [1, VOCAB] }, ok)).toThrow(/vocabulary size 50/);
    expect(() => engine.generate({ promptTokenIds: [1, 2.5] }, ok)).toThrow(InvalidRequestError);
    expect(() => engine.generate({ promptTokenIds: new Array(62).fill(1) }, ok)).toThrow(/exceeds the context of 64/);
    expect(() => engine.generate({ promptTokenIds: [1, 2] }, params({ maxTokens: 4, stop: 'x' }))).toThrow(/need a tokenizer/);
    const ac = new AbortController();
    ac.abort();
    expect(() => engine.generate({ promptTokenIds: [1, 2] }, ok, { signal: ac.signal })).toThrow(AbortError);
    const first = engine.generate({ promptTokenIds: [1, 2] }, ok, { requestId: 'same' });
    expect(() => engine.generate({ promptTokenIds: [1, 2] }, ok, { requestId: 'same' })).toThrow(/already running/);
    const res = await collect(first);
    expect(res.tokens[0]).toEqual(expectedTokens([1, 2], 4, VOCAB, null));
    await engine.shutdown();
  });

  it('rejects with CapacityError what the whole pool can never hold, sized from the byte budget', async () => {
    // 10 blocks of 4 tokens: 40 tokens at most for one sequence.
    const { engine } = await setup({ blockSize: 4, kvCacheBytes: 10 * 4 * 4 + 7 });
    expect(engine.stats().numBlocks).toBe(10);
    expect(() => engine.generate({ promptTokenIds: new Array(30).fill(3) }, params({ maxTokens: 11 }, 30))).toThrow(CapacityError);
    const res = await collect(engine.generate({ promptTokenIds: new Array(30).fill(3) }, params({ maxTokens: 10 }, 30)));
    expect(res.tokens[0]).toHaveLength(10);
    await engine.shutdown();
  });

  it('sizes the pool from a fraction of the available memory: 0.25 on the CPU, 0.9 on a GPU', async () => {
    const blocks = async (runner: ContextHashRunner, options: EngineOptions) => {
      const engine = await Engine.create(runner, null, options);
      await engine.shutdown();
      return engine.stats().numBlocks;
    };
    const cpu = new ContextHashRunner({ vocabSize: VOCAB }); // 1 MiB available, 64 bytes per block of 16
    expect(await blocks(cpu, {})).toBe(4096);
    expect(await blocks(cpu, { kvCacheFraction: 0.5 })).toBe(8192);
    const gpu = Object.assign(new ContextHashRunner({ vocabSize: VOCAB }), { backend: { name: 'cuda' } });
    expect(await blocks(gpu, {})).toBe(Math.floor((0.9 * 2 ** 20) / 64));
    await expect(Engine.create(cpu, null, { kvCacheFraction: 1.5 })).rejects.toThrow(/kvCacheFraction must be in/);
  });

  it('sizes the KV cache from gpuMemoryUtilization as vLLM does: what is left of that share of the whole GPU', async () => {
    const blocks = async (runner: ContextHashRunner, options: EngineOptions) => {
      const engine = await Engine.create(runner, null, options);
      await engine.shutdown();
      return engine.stats().numBlocks;
    };
    // 1 MiB free of a 4 MiB device (3 MiB held by weights and the rest), 64 bytes per block.
    const gpu = Object.assign(new ContextHashRunner({ vocabSize: VOCAB }), { backend: { name: 'cuda' }, totalMemory: () => 4 * 2 ** 20 });
    expect(await blocks(gpu, { gpuMemoryUtilization: 0.9 })).toBe(Math.floor((2 ** 20 - 0.1 * 4 * 2 ** 20) / 64));
    expect(await blocks(gpu, { gpuMemoryUtilization: 1 })).toBe(2 ** 20 / 64);
    await expect(Engine.create(gpu, null, { gpuMemoryUtilization: 0.7 })).rejects.toThrow(/leaves no room for a KV cache/);
    await expect(Engine.create(gpu, null, { gpuMemoryUtilization: 0 })).rejects.toThrow(/gpuMemoryUtilization must be in/);
    const cpu = new ContextHashRunner({ vocabSize: VOCAB });
    await expect(Engine.create(cpu, null, { gpuMemoryUtilization: 0.9 })).rejects.toThrow(/needs a GPU backend/);
  });

  it('takes larger steps by default on a GPU, and caps prefill while decoding only when asked', async () => {
    const limits = async (runner: ContextHashRunner, options: EngineOptions) => {
      const engine = await Engine.create(runner, null, options);
      await engine.shutdown();
      const { maxNumSeqs, maxNumBatchedTokens, maxPrefillTokensWhileDecoding } = engine.options;
      return [maxNumSeqs, maxNumBatchedTokens, maxPrefillTokensWhileDecoding];
    };
    const cpu = new ContextHashRunner({ vocabSize: VOCAB });
    const gpu = Object.assign(new ContextHashRunner({ vocabSize: VOCAB }), { backend: { name: 'cuda' } });
    expect(await limits(cpu, {})).toEqual([256, 2048, 2048]);
    expect(await limits(gpu, {})).toEqual([512, 8192, 8192]);
    expect(await limits(gpu, { maxNumBatchedTokens: 1024, maxPrefillTokensWhileDecoding: 384 })).toEqual([512, 1024, 384]);
    expect(await limits(cpu, { maxNumBatchedTokens: 256, maxPrefillTokensWhileDecoding: 384 })).toEqual([256, 256, 256]);
    await expect(Engine.create(cpu, null, { maxPrefillTokensWhileDecoding: 0 })).rejects.toThrow(/maxPrefillTokensWhileDecoding must be a positive integer/);
  });

  it('refuses a budget that holds no block, and a maxModelLen beyond the model', async () => {
    const runner = new ContextHashRunner({ vocabSize: VOCAB, maxContext: 128 });
    await expect(Engine.create(runner, null, { kvCacheBytes: 10, blockSize: 16 })).rejects.toThrow(CapacityError);
    await expect(Engine.create(runner, null, { maxModelLen: 129 })).rejects.toThrow(/beyond the model's context of 128/);
    await expect(Engine.create(runner, null, { maxNumSeqs: 0 })).rejects.toThrow(InvalidRequestError);
    await expect(Engine.create(runner, null, { asyncScheduling: 'no' as never })).rejects.toThrow(/asyncScheduling must be true or false/);
  });
});

describe('Engine streaming', () => {
  it('finishes on EOS, stop token ids, maxTokens and the end of the context', async () => {
    const prompt = [5, 6, 7, 8];
    const free = expectedTokens(prompt, 30, VOCAB, null);
    const eos = free[3];
    const { engine } = await setup({ maxModelLen: 16 }, { eosTokenIds: [eos] });
    const cut = free.indexOf(eos) + 1;
    const byEos = await collect(engine.generate({ promptTokenIds: prompt }, params({ maxTokens: 10 }, 4, 16)));
    expect(byEos.tokens[0]).toEqual(free.slice(0, cut));
    expect([byEos.finishReasons[0], byEos.stopReasons[0]]).toEqual(['stop', null]);

    const ignoring = await collect(engine.generate({ promptTokenIds: prompt }, params({ maxTokens: 12, ignoreEos: true }, 4, 16)));
    expect(ignoring.tokens[0]).toEqual(free.slice(0, 12));
    expect(ignoring.finishReasons[0]).toBe('length');

    const stopId = free[1];
    const byId = await collect(engine.generate({ promptTokenIds: prompt }, params({ maxTokens: 10, stopTokenIds: [stopId] }, 4, 16)));
    expect(byId.tokens[0]).toEqual(free.slice(0, free.indexOf(stopId) + 1));
    expect([byId.finishReasons[0], byId.stopReasons[0]]).toEqual(['stop', stopId]);
    await engine.shutdown();
  });

  it('streams one chunk per token with logprobs, usage on the last chunk, and reports timings', async () => {
    const { engine } = await setup();
    const finished: FinishedRequest[] = [];
    engine.onRequestFinished((r) => finished.push(r));
    const res = await collect(engine.generate({ promptTokenIds: [1, 2, 3] }, params({ maxTokens: 5, logprobs: 3, n: 2, seed: 7, temperature: 1 })), 2);
    expect(res.chunks).toHaveLength(10);
    for (const c of res.chunks) {
      expect(c.logprobs).toHaveLength(1);
      expect(c.logprobs![0].token).toBe(c.tokenIds[0]);
      expect(c.logprobs![0].top).toHaveLength(3);
    }
    expect(res.chunks.filter((c) => c.usage)).toHaveLength(1);
    expect(res.chunks[res.chunks.length - 1].usage).toEqual({ promptTokens: 3, completionTokens: 10, cachedPromptTokens: 0 });
    expect(finished).toHaveLength(1);
    const t = finished[0].timings;
    expect(t.queueTime).toBeGreaterThanOrEqual(0);
    expect(t.timeToFirstToken).toBeGreaterThanOrEqual(t.queueTime);
    expect(t.e2eLatency).toBeGreaterThanOrEqual(t.timeToFirstToken!);
    expect(finished[0].finishReasons).toEqual(['length', 'length']);
    await collect(engine.generate({ promptTokenIds: [4] }, params({ maxTokens: 5 }, 1)));
    expect(finished[1].timings.interTokenLatencies).toHaveLength(4); // 5 steps gave it a token
    const stats = engine.stats();
    expect([stats.promptTokens, stats.generationTokens]).toEqual([4, 15]);
    await engine.shutdown();
  });

  it('ends the stream promptly on abort (signal or break) and frees the blocks', async () => {
    const { engine } = await setup();
    const ac = new AbortController();
    const seen: number[] = [];
    let last = null;
    for await (const c of engine.generate({ promptTokenIds: [1, 2, 3] }, params({ maxTokens: 1000 }), { signal: ac.signal })) {
      seen.push(...c.tokenIds);
      last = c;
      if (seen.length === 3) ac.abort();
    }
    expect(seen).toHaveLength(3);
    expect(last!.finishReason).toBe('abort');
    expect(last!.usage).toEqual({ promptTokens: 3, completionTokens: 3, cachedPromptTokens: 0 });

    let count = 0;
    for await (const c of engine.generate({ promptTokenIds: [4, 5] }, params({ maxTokens: 1000, n: 3 }))) {
      count += c.tokenIds.length;
      if (count >= 4) break;
    }
    await collect(engine.generate({ promptTokenIds: [9] }, params({ maxTokens: 2 }))); // a step after the aborts
    const stats = engine.stats();
    expect([stats.numRunning, stats.numWaiting, stats.numFreeBlocks]).toEqual([0, 0, stats.numBlocks]);
    await engine.shutdown();
  });

  it('fails only the requests of a failing step and keeps going', async () => {
    let failAt = -1;
    const { engine, runner } = await setup({}, {
      beforeStep: (n) => {
        if (n === failAt) throw new Error('device lost');
      },
    });
    failAt = 2;
    const a = collect(engine.generate({ promptTokenIds: [1, 2] }, params({ maxTokens: 8 })));
    const b = collect(engine.generate({ promptTokenIds: [3, 4] }, params({ maxTokens: 8 })));
    const [ra, rb] = await Promise.all([a, b]);
    for (const r of [ra, rb]) {
      expect(r.error).toBeInstanceOf(NativeError);
      expect(r.error!.message).toMatch(/a model step failed \(device lost\)/);
    }
    const after = await collect(engine.generate({ promptTokenIds: [1, 2] }, params({ maxTokens: 8 })));
    expect(after.error).toBeNull();
    expect(after.tokens[0]).toEqual(expectedTokens([1, 2], 8, VOCAB, null));
    expect(engine.stats().numFreeBlocks).toBe(engine.stats().numBlocks);
    expect(runner.batches.length).toBeGreaterThan(8);
    await engine.shutdown();
  });

  it('shutdown aborts everything and refuses new requests', async () => {
    const { engine } = await setup();
    const pending = collect(engine.generate({ promptTokenIds: [1, 2] }, params({ maxTokens: 1000 })));
    await new Promise((r) => setTimeout(r, 5));
    await engine.shutdown();
    const res = await pending;
    expect(res.finishReasons[0]).toBe('abort');
    expect(() => engine.generate({ promptTokenIds: [1] }, params({ maxTokens: 1 }))).toThrow(AbortError);
  });
});

describe('Engine text output', () => {
  it('streams text, holds back a possible stop string until it is settled, and ends at one', async () => {
    const runner = new ContextHashRunner({ vocabSize: VOCAB });
    const prompt = [3, 4, 5];
    const free = expectedTokens(prompt, 12, VOCAB, null);
    const text = free.map((t) => String.fromCharCode(97 + (t % 26))).join('');
    const engine = await Engine.create(runner, letterTokenizer(-1), { kvCacheBytes: 64 * 16 * 4 });
    const plain = await collect(engine.generate({ promptTokenIds: prompt }, params({ maxTokens: 12 }, 3)));
    expect(plain.texts[0]).toBe(text);
    // A stop string that starts at the last letter and never completes: held back, then flushed.
    const pending = await collect(engine.generate({ promptTokenIds: prompt }, params({ maxTokens: 12, stop: text.slice(-1) + '!' }, 3)));
    expect(pending.texts[0]).toBe(text);
    expect(pending.chunks[pending.chunks.length - 1].text).toBe(text.slice(-1));
    const stop = text.slice(4, 6);
    const stopped = await collect(engine.generate({ promptTokenIds: prompt }, params({ maxTokens: 12, stop }, 3)));
    expect(stopped.texts[0]).toBe(text.slice(0, text.indexOf(stop)));
    expect([stopped.finishReasons[0], stopped.stopReasons[0]]).toEqual(['stop', stop]);
    await engine.shutdown();
  });

  it('a request whose text cannot be decoded fails alone', async () => {
    const runner = new ContextHashRunner({ vocabSize: VOCAB });
    const bad = [7, 8];
    const poison = expectedTokens(bad, 3, VOCAB, null)[2];
    // A prompt whose tokens and output never meet the poison token.
    let good: number[] = [];
    for (let a = 10; a < VOCAB; a++) {
      good = [a, a === poison ? 1 : a];
      if (![...good, ...expectedTokens(good, 10, VOCAB, null)].includes(poison)) break;
    }
    const goodTokens = expectedTokens(good, 10, VOCAB, null);
    expect([...good, ...goodTokens]).not.toContain(poison);
    const engine = await Engine.create(runner, letterTokenizer(poison), { kvCacheBytes: 64 * 16 * 4 });
    const [b, g] = await Promise.all([
      collect(engine.generate({ promptTokenIds: bad }, params({ maxTokens: 10 }, 2))),
      collect(engine.generate({ promptTokenIds: good }, params({ maxTokens: 10 }, 2))),
    ]);
    expect(b.error?.message).toMatch(/cannot decode token/);
    expect(b.tokens[0]).toHaveLength(2);
    expect(g.error).toBeNull();
    expect(g.tokens[0]).toEqual(goodTokens);
    await engine.shutdown();
  });
});

describe('Engine scheduling policies', () => {
  it("runs by priority under 'priority' and by arrival under 'fcfs'", async () => {
    for (const policy of ['fcfs', 'priority'] as const) {
      const { engine } = await setup({ maxNumSeqs: 1, schedulingPolicy: policy });
      const order: string[] = [];
      engine.onRequestFinished((r) => order.push(r.requestId));
      if (policy === 'fcfs') expect(() => engine.generate({ promptTokenIds: [1] }, params({ maxTokens: 3 }), { priority: 1 })).toThrow(/schedulingPolicy 'priority'/);
      const runs = [2, 0, 1].map((priority, i) =>
        collect(
          engine.generate({ promptTokenIds: [i + 1] }, params({ maxTokens: 3 }), {
            priority: policy === 'priority' ? priority : undefined,
            requestId: `p${priority}`,
          }),
        ),
      );
      await Promise.all(runs);
      expect(order).toEqual(policy === 'fcfs' ? ['p2', 'p0', 'p1'] : ['p0', 'p1', 'p2']);
      await engine.shutdown();
    }
  });

  it('keeps decoding running requests while a long prompt prefills in chunks', async () => {
    const { engine, runner } = await setup({ maxNumBatchedTokens: 8, blockSize: 4 });
    const first = engine.generate({ promptTokenIds: [1, 2, 3] }, params({ maxTokens: 20 }));
    const it1 = first[Symbol.asyncIterator]();
    await it1.next(); // the first request decodes now
    const stepsBefore = runner.batches.length;
    const long = collect(engine.generate({ promptTokenIds: new Array(40).fill(7) }, params({ maxTokens: 2 }, 40)));
    const rest = collect({ [Symbol.asyncIterator]: () => it1 });
    const [rl, rf] = await Promise.all([long, rest]);
    expect(rl.tokens[0]).toEqual(expectedTokens(new Array(40).fill(7), 2, VOCAB, null));
    expect([expectedTokens([1, 2, 3], 20, VOCAB, null)[0], ...rf.tokens[0]]).toEqual(expectedTokens([1, 2, 3], 20, VOCAB, null));
    // Every step that carries a chunk of the long prompt also carries the decode token.
    const prefills = runner.batches.slice(stepsBefore).filter((b) => b.numTokens > 2);
    expect(prefills.length).toBe(Math.ceil(40 / 7));
    for (const b of prefills) {
      expect(b.numTokens).toBeLessThanOrEqual(8);
      expect(b.numSeqs).toBe(2);
    }
    await engine.shutdown();
  });

  it('computes only the uncached blocks of a prompt that shares a prefix', async () => {
    const { engine, runner } = await setup({ blockSize: 4 });
    const prefix = Array.from({ length: 16 }, (_, i) => i + 1);
    const a = await collect(engine.generate({ promptTokenIds: [...prefix, 30] }, params({ maxTokens: 2 }, 17)));
    const before = engine.stats().computedTokens;
    const b = await collect(engine.generate({ promptTokenIds: [...prefix, 31, 32] }, params({ maxTokens: 2 }, 18)));
    // 16 cached tokens: the step computes 2 prompt tokens, then one decode token.
    expect(engine.stats().computedTokens - before).toBe(3);
    expect(b.usage!.cachedPromptTokens).toBe(16);
    expect(b.tokens[0]).toEqual(expectedTokens([...prefix, 31, 32], 2, VOCAB, null));
    expect(a.tokens[0]).toEqual(expectedTokens([...prefix, 30], 2, VOCAB, null));
    expect(runner.batches.length).toBe(4);
    await engine.shutdown();
  });
});
