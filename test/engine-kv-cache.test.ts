// The block pool and the KV cache bookkeeping: LRU free queue, reference counts, prefix caching
// and copy-on-write, by example and as a property over random operation sequences.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { BlockPool } from '../lib/engine/block-pool.js';
import { KvCache } from '../lib/engine/kv-cache.js';
import { createSequence, numTokens, tokenAt, type Sequence } from '../lib/engine/sequence.js';
import { normalizeSamplingParams } from '../lib/sampling/params.js';
import { checkHashes, checkPool, ShadowKv } from './helpers/kv-invariants.js';

const PARAMS = normalizeSamplingParams({}, { maxModelLen: 1 << 20, promptLength: 1, vocabSize: 100 });
let nextSeqId = 0;

function seqOf(tokens: number[]): Sequence {
  return createSequence({
    seqId: nextSeqId++,
    requestId: 'r',
    index: 0,
    promptTokenIds: Int32Array.from(tokens),
    params: PARAMS,
    seed: 0n,
    forkSeeds: [],
    priority: 0,
    arrivalOrder: nextSeqId,
    forkWidth: 1,
  });
}

/** Computes the sequence's uncomputed tokens as one step would: copies, writes, then registers. */
function compute(kv: KvCache, shadow: ShadowKv, seq: Sequence): boolean {
  const numNew = numTokens(seq) - seq.numComputedTokens;
  const copies: number[] = [];
  if (!kv.allocateSlots(seq, numNew, copies)) return false;
  shadow.copyBlocks(copies);
  for (let p = seq.numComputedTokens; p < numTokens(seq); p++) {
    const slot = seq.blockTable[Math.floor(p / kv.blockSize)] * kv.blockSize + (p % kv.blockSize);
    shadow.write(slot, tokenAt(seq, p));
  }
  seq.numComputedTokens = numTokens(seq);
  kv.registerFullBlocks(seq, seq.numComputedTokens);
  return true;
}

describe('BlockPool', () => {
  it('evicts cached blocks least recently released first, and a hit takes a block out of the queue', () => {
    const pool = new BlockPool(4);
    const ids = [pool.allocate(), pool.allocate(), pool.allocate(), pool.allocate()];
    expect(ids).toEqual([0, 1, 2, 3]);
    expect(pool.numAllocatable).toBe(0);
    expect(pool.register(1, 'h1')).toBe(true);
    expect(pool.register(2, 'h1')).toBe(false); // a duplicate stays anonymous
    pool.register(3, 'h3');
    for (const id of [3, 1, 0, 2]) pool.release(id);
    expect(pool.freeQueue()).toEqual([3, 1, 0, 2]);
    expect(pool.numCached).toBe(2);
    pool.retain(1); // a prefix-cache hit revives block 1
    expect(pool.freeQueue()).toEqual([3, 0, 2]);
    expect(pool.numCached).toBe(1);
    expect(pool.allocate()).toBe(3); // LRU: the cached block 3 is evicted first
    expect(pool.lookup('h3')).toBe(-1);
    expect(pool.lookup('h1')).toBe(1);
    expect(pool.numCached).toBe(0);
    expect(() => pool.release(2)).toThrow(/no owner/);
  });
});

describe('KvCache', () => {
  it('a second prompt with the same first blocks reuses them, never its last token', () => {
    const kv = new KvCache(16, 4, true);
    const shadow = new ShadowKv(16, 4);
    const a = seqOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    kv.admit(a, kv.findCachedPrefix(a));
    expect(compute(kv, shadow, a)).toBe(true);
    const b = seqOf([1, 2, 3, 4, 5, 6, 7, 8, 42]);
    const hits = kv.findCachedPrefix(b);
    expect(hits).toEqual(a.blockTable.slice(0, 2));
    kv.admit(b, hits);
    expect(b.numComputedTokens).toBe(8);
    expect(compute(kv, shadow, b)).toBe(true);
    shadow.check(b);
    // Exactly two full blocks: only the first may be reused, the last token must run.
    const c = seqOf([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(kv.findCachedPrefix(c)).toEqual([a.blockTable[0]]);
    expect(kv.counters).toEqual({ prefixCacheQueries: 19, prefixCacheHits: 8 });
    checkPool(kv, [a, b]);
  });

  it('forks share the prompt blocks and copy the partial one when they write it', () => {
    const kv = new KvCache(8, 4, false);
    const shadow = new ShadowKv(8, 4);
    const parent = seqOf([1, 2, 3, 4, 5, 6]);
    kv.admit(parent, []);
    compute(kv, shadow, parent);
    const child = seqOf([1, 2, 3, 4, 5, 6]);
    kv.fork(parent, child, 6);
    expect(child.blockTable).toEqual(parent.blockTable);
    checkPool(kv, [parent, child]);
    child.outputTokenIds.push(70);
    const copies: number[] = [];
    expect(kv.blocksNeeded(child, 1)).toBe(1);
    expect(kv.allocateSlots(child, 1, copies)).toBe(true);
    expect(copies).toEqual([parent.blockTable[1], child.blockTable[1]]);
    expect(child.blockTable[0]).toBe(parent.blockTable[0]);
    checkPool(kv, [parent, child]);
    parent.outputTokenIds.push(80);
    expect(kv.blocksNeeded(parent, 1)).toBe(0); // the last owner writes in place
  });

  it('keeps every invariant over random admit / grow / fork / preempt / free sequences', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), base: fc.nat(), cut: fc.nat(), tail: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 }) }),
      fc.record({ kind: fc.constant('grow' as const), which: fc.nat(), tokens: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 6 }) }),
      fc.record({ kind: fc.constant('fork' as const), which: fc.nat() }),
      fc.record({ kind: fc.constant('preempt' as const), which: fc.nat() }),
      fc.record({ kind: fc.constant('free' as const), which: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 24 }),
        fc.boolean(),
        fc.array(op, { maxLength: 60 }),
        (bsLog, numBlocks, prefixCaching, ops) => {
          const bs = [1, 2, 4, 8, 16][bsLog - 1];
          const kv = new KvCache(numBlocks, bs, prefixCaching);
          const shadow = new ShadowKv(numBlocks, bs);
          const live: Sequence[] = [];
          const parked: Sequence[] = [];
          const all = () => [...live, ...parked];
          const pick = (n: number) => live[n % live.length];
          for (const o of ops) {
            if (o.kind === 'add') {
              const source = all().length > 0 ? all()[o.base % all().length] : null;
              const prefix: number[] = [];
              if (source) for (let p = 0; p < Math.min(o.cut % 20, numTokens(source)); p++) prefix.push(tokenAt(source, p));
              const tokens = [...prefix, ...o.tail];
              if (tokens.length === 0) continue;
              const seq = seqOf(tokens);
              const hits = kv.findCachedPrefix(seq);
              if (!kv.canAdmit(hits, numTokens(seq) - hits.length * bs)) continue;
              kv.admit(seq, hits);
              shadow.check(seq);
              expect(compute(kv, shadow, seq)).toBe(true);
              live.push(seq);
            } else if (live.length === 0) {
              if (parked.length > 0 && o.kind === 'grow') {
                const seq = parked.shift()!;
                const hits = kv.findCachedPrefix(seq);
                if (kv.canAdmit(hits, numTokens(seq) - hits.length * bs)) {
                  kv.admit(seq, hits);
                  compute(kv, shadow, seq);
                  live.push(seq);
                } else parked.push(seq);
              }
            } else if (o.kind === 'grow') {
              const seq = pick(o.which);
              seq.outputTokenIds.push(...o.tokens);
              if (!compute(kv, shadow, seq)) {
                kv.free(seq);
                seq.numComputedTokens = 0;
                live.splice(live.indexOf(seq), 1);
                parked.push(seq);
              }
            } else if (o.kind === 'fork') {
              const parent = pick(o.which);
              const child = seqOf(Array.from({ length: numTokens(parent) }, (_, p) => tokenAt(parent, p)));
              kv.fork(parent, child, parent.numComputedTokens);
              live.push(child);
            } else if (o.kind === 'preempt') {
              const seq = pick(o.which);
              kv.free(seq);
              seq.numComputedTokens = 0;
              live.splice(live.indexOf(seq), 1);
              parked.push(seq);
            } else {
              const seq = pick(o.which);
              kv.free(seq);
              live.splice(live.indexOf(seq), 1);
            }
            checkPool(kv, live);
            for (const seq of live) {
              shadow.check(seq);
              checkHashes(kv, seq);
            }
          }
          for (const seq of live) kv.free(seq);
          checkPool(kv, []);
          expect(kv.pool.numUsed).toBe(0);
          expect(kv.pool.freeQueue().length).toBe(numBlocks);
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });
});
