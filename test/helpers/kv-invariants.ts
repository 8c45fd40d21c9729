// Invariants of the KV cache bookkeeping that every engine test can check: ownership, the free
// queue, prefix-cache hashes, and (with a shadow copy of the KV slots) that each sequence reads
// back its own tokens through its block table.
import { expect } from 'vitest';

import { chainedBlockHash, type KvCache } from '../../lib/engine/kv-cache.js';
import { tokenAt, type Sequence } from '../../lib/engine/sequence.js';

/**
 * Checks ownership and the free queue against the sequences that hold blocks; with holders null,
 * only the pool's own consistency (refcount 0 exactly for the blocks in the free queue, hashes).
 */
export function checkPool(kv: KvCache, holders: Iterable<Sequence> | null): void {
  const pool = kv.pool;
  const owners = new Int32Array(pool.numBlocks);
  for (const seq of holders ?? []) {
    const seen = new Set<number>();
    for (const id of seq.blockTable) {
      expect(id >= 0 && id < pool.numBlocks, `block ${id} of sequence ${seq.seqId} is outside the pool`).toBe(true);
      expect(seen.has(id), `sequence ${seq.seqId} holds block ${id} twice`).toBe(false);
      seen.add(id);
      owners[id]++;
    }
  }
  const queue = pool.freeQueue();
  const inQueue = new Set(queue);
  expect(inQueue.size, 'a block is twice in the free queue').toBe(queue.length);
  let cached = 0;
  let hashed = 0;
  for (let id = 0; id < pool.numBlocks; id++) {
    if (holders) expect(pool.refCount(id), `refcount of block ${id} vs its owners`).toBe(owners[id]);
    expect(inQueue.has(id), `block ${id}: in the free queue iff unowned`).toBe(pool.refCount(id) === 0);
    const h = pool.hashOf(id);
    if (h !== null) {
      hashed++;
      expect(pool.lookup(h), `hash of block ${id} maps back to it`).toBe(id);
      if (pool.refCount(id) === 0) cached++;
    }
  }
  expect(pool.numHashes).toBe(hashed);
  expect(pool.numCached).toBe(cached);
  expect(pool.numAllocatable).toBe(queue.length);
  expect(pool.numAllocatable + pool.numUsed).toBe(pool.numBlocks);
}

/** The prefix-cache hash of every registered block of a sequence is the hash of its own tokens. */
export function checkHashes(kv: KvCache, seq: Sequence): void {
  let parent = '';
  const tokens = new Int32Array(kv.blockSize);
  for (let i = 0; i < seq.numRegisteredBlocks; i++) {
    for (let j = 0; j < kv.blockSize; j++) tokens[j] = tokenAt(seq, i * kv.blockSize + j);
    const expected = chainedBlockHash(parent, tokens);
    parent = expected;
    if (i < seq.blockHashes.length) expect(seq.blockHashes[i]).toBe(expected);
    const h = kv.pool.hashOf(seq.blockTable[i]);
    if (h !== null) expect(h, `block ${i} of sequence ${seq.seqId}`).toBe(expected);
  }
}

/** The token written in every KV slot, as a native step would leave it. */
export class ShadowKv {
  readonly slots: Int32Array;
  readonly blockSize: number;
  constructor(numBlocks: number, blockSize: number) {
    this.slots = new Int32Array(numBlocks * blockSize).fill(-1);
    this.blockSize = blockSize;
  }
  copyBlocks(pairs: ArrayLike<number>): void {
    const bs = this.blockSize;
    for (let i = 0; i + 1 < pairs.length; i += 2) this.slots.copyWithin(pairs[i + 1] * bs, pairs[i] * bs, pairs[i] * bs + bs);
  }
  write(slot: number, token: number): void {
    this.slots[slot] = token;
  }
  read(blockTable: ArrayLike<number>, position: number): number {
    return this.slots[blockTable[Math.floor(position / this.blockSize)] * this.blockSize + (position % this.blockSize)];
  }
  /** Every computed position of the sequence holds its own token. */
  check(seq: Sequence, computed = seq.numComputedTokens): void {
    for (let p = 0; p < computed; p++)
      expect(this.read(seq.blockTable, p), `sequence ${seq.seqId} position ${p}`).toBe(tokenAt(seq, p));
  }
}
