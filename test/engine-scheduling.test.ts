// The engine end to end over the context-hash model: random requests arriving and aborting at
// random steps, small pools (preemption), chunked prefill, prefix caching, forks. Every request
// must produce exactly the tokens it produces alone, and nothing may leak: with async scheduling
// (steps chained to the one running), with rows the sampler redid on the host after a chained
// step had read them, and without async scheduling.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine/engine.js';
import { outputSeeds } from '../lib/engine/seeds.js';
import type { KvCache } from '../lib/engine/kv-cache.js';
import { CapacityError } from '../lib/errors.js';
import { normalizeSamplingParams } from '../lib/sampling/params.js';
import { collect, type Collected } from './helpers/collect.js';
import { ContextHashRunner, expectedTokens, mixRow, type ContextHashOptions } from './helpers/context-hash-runner.js';
import { checkPool } from './helpers/kv-invariants.js';

const VOCAB = 40;
const EOS = 39;

const requestArb = fc.record({
  base: fc.nat(),
  cut: fc.nat({ max: 40 }),
  tail: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 30 }),
  maxTokens: fc.integer({ min: 1, max: 24 }),
  n: fc.integer({ min: 1, max: 3 }),
  seed: fc.option(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { nil: null }),
  ignoreEos: fc.boolean(),
  stopToken: fc.option(fc.integer({ min: 0, max: VOCAB - 1 }), { nil: null }),
  penalty: fc.boolean(),
  arriveAt: fc.integer({ min: 0, max: 12 }),
  abortAt: fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }),
  priority: fc.integer({ min: 0, max: 3 }),
});

const engineArb = fc.record({
  blockSize: fc.constantFrom(1, 2, 4, 16),
  numBlocks: fc.integer({ min: 2, max: 40 }),
  maxNumBatchedTokens: fc.integer({ min: 1, max: 64 }),
  maxPrefillTokensWhileDecoding: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
  maxNumSeqs: fc.integer({ min: 1, max: 8 }),
  enablePrefixCaching: fc.boolean(),
  schedulingPolicy: fc.constantFrom('fcfs' as const, 'priority' as const),
});

interface Variant {
  asyncScheduling: boolean;
  runner: Pick<ContextHashOptions, 'resample'>;
}

/** Runs the random scenarios under one variant; returns the runners, for what they saw. */
async function checkScenarios(variant: Variant): Promise<ContextHashRunner[]> {
  const runners: ContextHashRunner[] = [];
  await fc.assert(
    fc.asyncProperty(engineArb, fc.array(requestArb, { minLength: 1, maxLength: 10 }), async (opts, reqs) => {
      const pending = reqs.map((r, i) => ({ ...r, i }));
      const prompts: number[][] = [];
      const promptOf = new Map<number, number[]>();
      const results = new Map<number, Promise<Collected>>();
      const aborters = new Map<number, AbortController>();
      const rejected = new Map<number, { error: unknown; blocks: number }>();
      let engine: Engine;
      const submit = (step: number) => {
        for (const r of pending.filter((p) => p.arriveAt <= step)) {
          pending.splice(pending.indexOf(r), 1);
          const source = prompts.length > 0 ? prompts[r.base % prompts.length] : [];
          const prompt = [...source.slice(0, r.cut), ...r.tail];
          prompts.push(prompt);
          promptOf.set(r.i, prompt);
          const params = normalizeSamplingParams(
            {
              maxTokens: r.maxTokens,
              n: r.n,
              seed: r.seed,
              temperature: r.seed === null ? 0 : 1,
              ignoreEos: r.ignoreEos,
              stopTokenIds: r.stopToken === null ? [] : [r.stopToken],
              repetitionPenalty: r.penalty ? 1.1 : 1,
            },
            { maxModelLen: 4096, promptLength: prompt.length, vocabSize: VOCAB },
          );
          const ac = new AbortController();
          try {
            const stream = engine.generate({ promptTokenIds: prompt }, params, { signal: ac.signal, priority: opts.schedulingPolicy === 'priority' ? r.priority : 0, requestId: `r${r.i}` });
            results.set(r.i, collect(stream, r.n));
            aborters.set(r.i, ac);
          } catch (e) {
            rejected.set(r.i, { error: e, blocks: Math.ceil((prompt.length + r.maxTokens) / opts.blockSize) });
          }
        }
        reqs.forEach((r, i) => {
          if (r.abortAt === step) aborters.get(i)?.abort();
        });
      };
      const runner = new ContextHashRunner({
        vocabSize: VOCAB,
        eosTokenIds: [EOS],
        beforeStep: (n) => {
          checkPool((engine as unknown as { kv: KvCache }).kv, null);
          submit(n + 1);
        },
        ...variant.runner,
      });
      runners.push(runner);
      engine = await Engine.create(runner, null, {
        ...opts,
        kvCacheBytes: opts.numBlocks * opts.blockSize * 4,
        asyncScheduling: variant.asyncScheduling,
      });
      submit(0);
      // Requests due after the engine went idle arrive then.
      for (;;) {
        await Promise.all(results.values());
        if (pending.length === 0) break;
        submit(Math.min(...pending.map((p) => p.arriveAt)));
      }

      for (const { error, blocks } of rejected.values()) {
        expect(error).toBeInstanceOf(CapacityError);
        expect(blocks).toBeGreaterThan(opts.numBlocks);
      }
      for (const [i, resultPromise] of results) {
        const r = reqs[i];
        const res = await resultPromise;
        expect(res.error).toBeNull();
        const seeds = r.seed === null ? new Array<null>(r.n).fill(null) : outputSeeds(r.seed, r.n);
        const stop = (t: number) => (t === EOS && !r.ignoreEos) || t === r.stopToken;
        for (let k = 0; k < r.n; k++) {
          const want = expectedTokens(promptOf.get(i)!, r.maxTokens, VOCAB, seeds[k], stop);
          const got = res.tokens[k];
          if (res.finishReasons[k] === 'abort') {
            expect(r.abortAt).not.toBeNull();
            expect(want.slice(0, got.length)).toEqual(got);
          } else {
            expect(got, `request ${i} output ${k}`).toEqual(want);
            // vLLM's order: maxTokens first, then EOS / stop token ids.
            expect(res.finishReasons[k]).toBe(got.length >= r.maxTokens ? 'length' : 'stop');
          }
        }
        expect(res.usage?.completionTokens).toBe(res.tokens.reduce((a, t) => a + t.length, 0));
      }
      await engine.shutdown();
      const stats = engine.stats();
      expect(stats.numRunning + stats.numWaiting).toBe(0);
      expect(stats.numFreeBlocks).toBe(stats.numBlocks);
      checkPool((engine as unknown as { kv: KvCache }).kv, []);
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 150) },
  );
  return runners;
}

describe('engine scheduling (context-hash model)', () => {
  it('gives every request the tokens it gets alone, under preemption, chunking, caching and aborts', async () => {
    const runners = await checkScenarios({ asyncScheduling: true, runner: {} });
    expect(runners.some((r) => r.numChainedSteps > 0)).toBe(true);
  });

  it('the same when the sampler redid rows on the host after a chained step read them', async () => {
    // About one row in five, chosen by a hash of (step, row).
    const runners = await checkScenarios({ asyncScheduling: true, runner: { resample: (n, row) => mixRow(n, row) % 5 === 0 } });
    expect(runners.reduce((a, r) => a + r.numResampledRows, 0)).toBeGreaterThan(0);
  });

  it('the same without async scheduling: no step is chained', async () => {
    const runners = await checkScenarios({ asyncScheduling: false, runner: {} });
    expect(runners.every((r) => r.numChainedSteps === 0)).toBe(true);
  });
});
