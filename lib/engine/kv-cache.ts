// The KV cache as the scheduler sees it: block tables of sequences over one BlockPool, with
// automatic prefix caching (full blocks named by a hash chained over their tokens) and
// copy-on-write for blocks that forks share. The KV bytes themselves live in native memory;
// this file only decides which block each token's KV goes to.
import { createHash } from 'node:crypto';
import { BlockPool } from './block-pool.js';
import { numTokens, tokenAt, type Sequence } from './sequence.js';

export const DEFAULT_BLOCK_SIZE = 16;

/**
 * The hash of a full block: SHA-256 over the parent block's hash and this block's token ids, so
 * equal hashes mean equal whole prefixes. A cryptographic hash (vLLM's sha256 option) because a
 * collision would silently serve another prompt's KV.
 */
export function chainedBlockHash(parentHash: string, tokens: Int32Array): string {
  return createHash('sha256')
    .update(parentHash)
    .update(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength))
    .digest('base64');
}

export interface KvCacheCounters {
  /** Tokens looked up in the prefix cache at admission. */
  prefixCacheQueries: number;
  /** Of those, tokens found. */
  prefixCacheHits: number;
}

export class KvCache {
  readonly pool: BlockPool;
  readonly blockSize: number;
  readonly enablePrefixCaching: boolean;
  readonly counters: KvCacheCounters = { prefixCacheQueries: 0, prefixCacheHits: 0 };
  private readonly blockTokens: Int32Array;

  constructor(numBlocks: number, blockSize: number, enablePrefixCaching: boolean) {
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
    this.pool = new BlockPool(numBlocks);
    this.blockSize = blockSize;
    this.enablePrefixCaching = enablePrefixCaching;
    this.blockTokens = new Int32Array(blockSize);
  }

  get numBlocks(): number {
    return this.pool.numBlocks;
  }

  /** Blocks a sequence of this many tokens occupies. */
  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockSize);
  }

  /**
   * Cached blocks that hold a prefix of the sequence's known tokens (never the last token: it must
   * be computed so that its logits exist). Takes no references.
   */
  findCachedPrefix(seq: Sequence): number[] {
    if (!this.enablePrefixCaching) return [];
    const fullBlocks = Math.floor((numTokens(seq) - 1) / this.blockSize);
    this.hashBlocks(seq, fullBlocks);
    const hits: number[] = [];
    for (let i = 0; i < fullBlocks; i++) {
      const id = this.pool.lookup(seq.blockHashes[i]);
      if (id < 0) break;
      hits.push(id);
    }
    return hits;
  }

  /**
   * Whether a waiting sequence (no blocks) can take the cached blocks `hits` and new blocks for
   * `numNewTokens` tokens after them.
   */
  canAdmit(hits: readonly number[], numNewTokens: number): boolean {
    let revived = 0;
    for (const id of hits) if (this.pool.refCount(id) === 0) revived++;
    const fresh = this.blocksFor(hits.length * this.blockSize + numNewTokens) - hits.length;
    return revived + fresh <= this.pool.numAllocatable;
  }

  /** Starts a waiting sequence's block table with the cached prefix (call after canAdmit). */
  admit(seq: Sequence, hits: readonly number[]): void {
    if (seq.blockTable.length !== 0) throw new Error(`KvCache.admit: sequence ${seq.seqId} already holds blocks`);
    for (const id of hits) {
      this.pool.retain(id);
      seq.blockTable.push(id);
    }
    seq.numRegisteredBlocks = hits.length;
    seq.numComputedTokens = hits.length * this.blockSize;
    if (this.enablePrefixCaching) {
      this.counters.prefixCacheQueries += numTokens(seq);
      this.counters.prefixCacheHits += seq.numComputedTokens;
    }
  }

  /** New blocks (including a copy-on-write copy) that writing `numNewTokens` more tokens needs. */
  blocksNeeded(seq: Sequence, numNewTokens: number): number {
    const end = seq.numComputedTokens + numNewTokens;
    let need = Math.max(0, this.blocksFor(end) - seq.blockTable.length);
    if (this.needsCopyOnWrite(seq, numNewTokens)) need++;
    return need;
  }

  /**
   * Makes room for the next `numNewTokens` tokens: a private copy of a shared or cached block
   * about to be written (its (src, dst) pair appended to `blockCopies`), then new blocks. Returns false, with
   * nothing changed, when the pool has too few blocks.
   */
  allocateSlots(seq: Sequence, numNewTokens: number, blockCopies: number[]): boolean {
    if (this.blocksNeeded(seq, numNewTokens) > this.pool.numAllocatable) return false;
    if (this.needsCopyOnWrite(seq, numNewTokens)) {
      const i = Math.floor(seq.numComputedTokens / this.blockSize);
      const src = seq.blockTable[i];
      const dst = this.pool.allocate();
      blockCopies.push(src, dst);
      this.pool.release(src);
      seq.blockTable[i] = dst;
    }
    const end = seq.numComputedTokens + numNewTokens;
    while (seq.blockTable.length < this.blocksFor(end)) seq.blockTable.push(this.pool.allocate());
    return true;
  }

  /**
   * Gives a fork the parent's blocks that hold its first `sharedTokens` tokens (the prompt). The
   * last of them may be partial: the first of the two to write it copies it.
   */
  fork(parent: Sequence, child: Sequence, sharedTokens: number): void {
    const n = this.blocksFor(sharedTokens);
    if (parent.blockTable.length < n) throw new Error(`KvCache.fork: sequence ${parent.seqId} holds fewer than ${n} blocks`);
    for (let i = 0; i < n; i++) {
      const id = parent.blockTable[i];
      this.pool.retain(id);
      child.blockTable.push(id);
    }
    const full = Math.floor(sharedTokens / this.blockSize);
    child.blockHashes = parent.blockHashes.slice(0, full);
    child.numRegisteredBlocks = Math.min(parent.numRegisteredBlocks, full);
    child.numComputedTokens = sharedTokens;
  }

  /** Releases every block of the sequence, last block first so that its tail is evicted first. */
  free(seq: Sequence): void {
    for (let i = seq.blockTable.length - 1; i >= 0; i--) this.pool.release(seq.blockTable[i]);
    seq.blockTable = [];
    seq.numRegisteredBlocks = 0;
  }

  /** After a step wrote the KV of the sequence's first `computedTokens` tokens: caches its full blocks. */
  registerFullBlocks(seq: Sequence, computedTokens: number): void {
    if (!this.enablePrefixCaching) return;
    const full = Math.min(Math.floor(computedTokens / this.blockSize), seq.blockTable.length);
    if (full <= seq.numRegisteredBlocks) return;
    this.hashBlocks(seq, full);
    for (let i = seq.numRegisteredBlocks; i < full; i++) this.pool.register(seq.blockTable[i], seq.blockHashes[i]);
    seq.numRegisteredBlocks = full;
  }

  /** Usage for metrics: owned blocks over all blocks. */
  get usage(): number {
    return this.pool.numUsed / this.pool.numBlocks;
  }

  /**
   * The block about to be written must be copied when others share it, and also when it is in
   * the prefix cache: a cached block is immutable. That happens after a fork: the parent's step
   * planned before the fork fills the shared partial block and caches it; a child left as its
   * only owner must not overwrite it in place.
   */
  private needsCopyOnWrite(seq: Sequence, numNewTokens: number): boolean {
    if (numNewTokens <= 0) return false;
    const i = Math.floor(seq.numComputedTokens / this.blockSize);
    if (i >= seq.blockTable.length) return false;
    const id = seq.blockTable[i];
    return this.pool.refCount(id) > 1 || this.pool.hashOf(id) !== null;
  }

  /** Extends the sequence's hash chain to its first `count` blocks (all of known tokens). */
  private hashBlocks(seq: Sequence, count: number): void {
    const bs = this.blockSize;
    for (let i = seq.blockHashes.length; i < count; i++) {
      for (let j = 0; j < bs; j++) this.blockTokens[j] = tokenAt(seq, i * bs + j);
      seq.blockHashes.push(chainedBlockHash(i === 0 ? '' : seq.blockHashes[i - 1], this.blockTokens));
    }
  }
}
