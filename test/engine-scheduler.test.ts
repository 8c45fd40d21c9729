// The scheduler and the KV cache under random add / step / abort / finish / fork sequences, driven
// the way the engine drives them (step N+1 planned while N is in flight). After every operation:
// no block is owned twice by one sequence, every refcount equals its owners, free + used + cached
// is the pool, hashes are consistent; every step reads each sequence's own tokens back through its
// block table; and nothing is left when all requests have ended.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { KvCache } from '../lib/engine/kv-cache.js';
import { Scheduler } from '../lib/engine/scheduler.js';
import { createSequence, forkSequence, numTokens, tokenAt, type Sequence } from '../lib/engine/sequence.js';
import { StepBuilder, type BuiltStep } from '../lib/engine/step-builder.js';
import { normalizeSamplingParams } from '../lib/sampling/params.js';
import { checkHashes, checkPool, ShadowKv } from './helpers/kv-invariants.js';

const opArb = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), base: fc.nat(), cut: fc.nat({ max: 24 }), tail: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }), maxTokens: fc.integer({ min: 1, max: 12 }), n: fc.integer({ min: 1, max: 3 }), penalty: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('step' as const), tokens: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 3, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('finish' as const), which: fc.nat() }) },
);

const configArb = fc.record({
  blockSize: fc.constantFrom(1, 2, 4, 8),
  numBlocks: fc.integer({ min: 4, max: 32 }),
  maxNumBatchedTokens: fc.integer({ min: 1, max: 32 }),
  maxPrefillTokensWhileDecoding: fc.integer({ min: 1, max: 32 }),
  maxNumSeqs: fc.integer({ min: 1, max: 6 }),
  prefixCaching: fc.boolean(),
  policy: fc.constantFrom('fcfs' as const, 'priority' as const),
});

class Driver {
  readonly kv: KvCache;
  readonly scheduler: Scheduler;
  readonly builder: StepBuilder;
  readonly shadow: ShadowKv;
  readonly seqs: Sequence[] = [];
  inFlight: BuiltStep | null = null;
  private nextId = 0;

  constructor(readonly c: fc.RecordValue<{ blockSize: number; numBlocks: number; maxNumBatchedTokens: number; maxPrefillTokensWhileDecoding: number; maxNumSeqs: number; prefixCaching: boolean; policy: 'fcfs' | 'priority' }>) {
    this.kv = new KvCache(c.numBlocks, c.blockSize, c.prefixCaching);
    this.scheduler = new Scheduler(this.kv, { maxNumSeqs: c.maxNumSeqs, maxNumBatchedTokens: c.maxNumBatchedTokens, maxPrefillTokensWhileDecoding: c.maxPrefillTokensWhileDecoding, maxModelLen: 1 << 20, policy: c.policy });
    this.builder = new StepBuilder(c.blockSize);
    this.shadow = new ShadowKv(c.numBlocks, c.blockSize);
  }

  add(prompt: number[], maxTokens: number, n: number, penalty: boolean): void {
    if (Math.ceil((prompt.length + maxTokens) / this.c.blockSize) > this.c.numBlocks) return; // rejected at admission
    const params = normalizeSamplingParams({ maxTokens, n, repetitionPenalty: penalty ? 1.2 : 1 }, { maxModelLen: 1 << 20, promptLength: prompt.length, vocabSize: 4 });
    const id = this.nextId++;
    const seq = createSequence({ seqId: id, requestId: `r${id}`, index: 0, promptTokenIds: Int32Array.from(prompt), params, seed: 0n, forkSeeds: n > 1 ? Array.from({ length: n }, (_, k) => BigInt(k)) : [], priority: id % 3, arrivalOrder: id, forkWidth: n });
    this.seqs.push(seq);
    this.scheduler.add(seq);
  }

  /** One turn of the engine loop: plan N+1, run and complete N, then N+1 is in flight. */
  step(tokens: number[]): void {
    const plan = this.scheduler.schedule();
    const next = plan ? this.builder.build(plan) : null;
    if (this.inFlight) {
      this.execute(this.inFlight);
      this.complete(this.inFlight, tokens);
      if (next) this.builder.resolvePlaceholders(next);
    }
    this.inFlight = next;
  }

  endRequest(seq: Sequence): void {
    for (const s of this.seqs) if (s.requestId === seq.requestId) this.scheduler.finish(s);
  }

  /** What native code does with the batch, checking that each sequence reads its own tokens. */
  private execute(step: BuiltStep): void {
    const b = step.batch;
    this.shadow.copyBlocks(b.blockCopies);
    for (let t = 0; t < b.numTokens; t++) this.shadow.write(b.slotMapping[t], b.tokenIds[t]);
    step.plan.scheduled.forEach((s, i) => {
      if (s.seq.status === 'finished') return; // its row is computed and thrown away
      const table = b.blockTable.subarray(i * b.maxBlocksPerSeq, (i + 1) * b.maxBlocksPerSeq);
      for (let p = 0; p < b.seqLens[i]; p++) expect(this.shadow.read(table, p), `seq ${s.seq.seqId} position ${p}`).toBe(tokenAt(s.seq, p));
    });
  }

  private complete(step: BuiltStep, tokens: number[]): void {
    for (const s of step.plan.scheduled) this.scheduler.stepDone(s, true);
    let r = 0;
    for (const s of step.plan.scheduled) {
      if (s.numSamples === 0 || s.seq.status === 'finished') continue;
      let family = [s.seq];
      if (s.numSamples > 1) {
        const children = s.seq.forkSeeds.slice(1).map((seed, k) => forkSequence(s.seq, this.nextId++, k + 1, seed));
        this.seqs.push(...children);
        this.scheduler.fork(s.seq, children);
        family = [s.seq, ...children];
      }
      for (const seq of family) {
        seq.outputTokenIds.push(tokens[r++ % tokens.length]);
        if (seq.outputTokenIds.length >= seq.params.maxTokens) this.scheduler.finish(seq);
      }
    }
  }

  check(): void {
    checkPool(this.kv, this.seqs);
    for (const seq of this.seqs) if (seq.status === 'running') checkHashes(this.kv, seq);
  }
}

describe('Scheduler + KvCache', () => {
  it('keeps every invariant over random add / step / abort / finish / fork and leaks nothing', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 80 }), (c, ops) => {
        const d = new Driver(c);
        const live = () => d.seqs.filter((s) => s.status !== 'finished');
        for (const op of ops) {
          if (op.kind === 'add') {
            const base = d.seqs.length > 0 ? d.seqs[op.base % d.seqs.length] : null;
            const prefix = base ? Array.from({ length: Math.min(op.cut, numTokens(base)) }, (_, p) => tokenAt(base, p)) : [];
            d.add([...prefix, ...op.tail], op.maxTokens, op.n, op.penalty);
          } else if (op.kind === 'step') {
            d.step(op.tokens);
          } else if (live().length > 0) {
            const seq = live()[op.which % live().length];
            if (op.kind === 'abort') d.endRequest(seq);
            else d.scheduler.finish(seq); // a stop string: one output ends
          }
          d.check();
        }
        // Run what is left to the end (every sequence has a maxTokens), then nothing may remain.
        for (let i = 0; i < 2000 && (d.scheduler.hasWork || d.inFlight); i++) {
          d.step([1, 2, 3]);
          d.check();
        }
        expect(d.scheduler.hasWork).toBe(false);
        expect(d.inFlight).toBeNull();
        for (const s of d.seqs) expect(s.blockTable).toEqual([]);
        checkPool(d.kv, []);
        expect(d.kv.pool.numAllocatable).toBe(c.numBlocks);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });
});

describe('Scheduler prefill limit while decoding', () => {
  const params = normalizeSamplingParams({ maxTokens: 4 }, { maxModelLen: 1 << 20, promptLength: 40, vocabSize: 4 });
  const seq = (id: number, len: number) =>
    createSequence({ seqId: id, requestId: `r${id}`, index: 0, promptTokenIds: new Int32Array(len), params, seed: 0n, forkSeeds: [], priority: 0, arrivalOrder: id, forkWidth: 1 });

  it('takes the full token budget for prompts alone and the smaller one once a step carries decodes', () => {
    const kv = new KvCache(64, 4, false);
    const scheduler = new Scheduler(kv, { maxNumSeqs: 8, maxNumBatchedTokens: 32, maxPrefillTokensWhileDecoding: 6, maxModelLen: 1 << 20, policy: 'fcfs' });
    const a = seq(0, 10), b = seq(1, 40);
    scheduler.add(a);
    scheduler.add(b);
    // Step 1: no decodes yet: a's whole prompt and 22 tokens of b's.
    const first = scheduler.schedule()!;
    expect(first.scheduled.map((s) => s.numNewTokens)).toEqual([10, 22]);
    for (const s of first.scheduled) scheduler.stepDone(s, true);
    a.outputTokenIds.push(1);
    // Step 2: a decodes, so b's prefill goes on in chunks of at most 6 tokens.
    const second = scheduler.schedule()!;
    expect(second.scheduled.map((s) => [s.seq.seqId, s.numNewTokens])).toEqual([[0, 1], [1, 6]]);
    expect(second.numTokens).toBe(7);
  });
});
