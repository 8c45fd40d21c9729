// The physical KV block pool: reference counts, the free queue and the prefix-cache map from a
// full block's hash to the block that holds it. Blocks are plain indices; their state lives in
// flat arrays so that nothing is allocated per block or per token.
//
// A block is in exactly one of three states:
//   used   refCount > 0 (owned by one sequence, or shared by forks and prefix-cache hits)
//   cached refCount 0 with a hash: its KV is still valid and a new request may reuse it
//   free   refCount 0 without a hash
// Cached and free blocks together form the free queue, least recently released first.
// Allocation takes the head, so a cached block is evicted only after every block released
// before it: LRU eviction with no separate structure (vLLM's FreeKVCacheBlockQueue).

const NONE = -1;

export class BlockPool {
  readonly numBlocks: number;
  private readonly refCounts: Int32Array;
  private readonly hashes: (string | null)[];
  private readonly byHash = new Map<string, number>();
  // The free queue as a doubly linked list over block ids, so a cache hit can take a block out of
  // the middle in O(1).
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = NONE;
  private tail = NONE;
  private freeCount = 0;
  private cachedCount = 0;

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new RangeError(`numBlocks must be a positive integer, got ${numBlocks}`);
    this.numBlocks = numBlocks;
    this.refCounts = new Int32Array(numBlocks);
    this.hashes = new Array<string | null>(numBlocks).fill(null);
    this.prev = new Int32Array(numBlocks).fill(NONE);
    this.next = new Int32Array(numBlocks).fill(NONE);
    for (let id = 0; id < numBlocks; id++) this.pushTail(id);
  }

  /** Blocks that an allocation can take: free ones and cached ones (evicted on the way). */
  get numAllocatable(): number {
    return this.freeCount;
  }

  /** Unowned blocks that still hold a prefix-cache entry. */
  get numCached(): number {
    return this.cachedCount;
  }

  get numUsed(): number {
    return this.numBlocks - this.freeCount;
  }

  refCount(id: number): number {
    return this.refCounts[id];
  }

  hashOf(id: number): string | null {
    return this.hashes[id];
  }

  /** The block that holds the KV of a full block with this hash, or -1. */
  lookup(hash: string): number {
    return this.byHash.get(hash) ?? NONE;
  }

  /** Takes the least recently released block (dropping its cache entry); the caller owns it. */
  allocate(): number {
    const id = this.head;
    if (id === NONE) throw new Error('BlockPool.allocate: no free block (the scheduler must check numAllocatable first)');
    this.unlink(id);
    this.evict(id);
    this.refCounts[id] = 1;
    return id;
  }

  /** One more owner of a block: a fork, or a prefix-cache hit (which may revive a cached block). */
  retain(id: number): void {
    if (this.refCounts[id] === 0) {
      this.unlink(id);
      if (this.hashes[id] !== null) this.cachedCount--;
    }
    this.refCounts[id]++;
  }

  /** One owner less; at 0 the block joins the tail of the free queue, keeping its cache entry. */
  release(id: number): void {
    if (this.refCounts[id] <= 0) throw new Error(`BlockPool.release: block ${id} has no owner`);
    if (--this.refCounts[id] === 0) {
      this.pushTail(id);
      if (this.hashes[id] !== null) this.cachedCount++;
    }
  }

  /**
   * Records that a used block holds the full block with this hash. When another block already
   * holds it (two requests computed the same prefix at once) the first stays the cache entry and
   * this one stays anonymous. Returns whether this block became the entry.
   */
  register(id: number, hash: string): boolean {
    if (this.refCounts[id] <= 0) throw new Error(`BlockPool.register: block ${id} has no owner`);
    if (this.hashes[id] !== null || this.byHash.has(hash)) return false;
    this.hashes[id] = hash;
    this.byHash.set(hash, id);
    return true;
  }

  /** The free queue from head (next evicted) to tail, for tests and debugging. */
  freeQueue(): number[] {
    const ids: number[] = [];
    for (let id = this.head; id !== NONE; id = this.next[id]) ids.push(id);
    return ids;
  }

  /** Number of hashes in the map, for tests (equals the number of blocks with a hash). */
  get numHashes(): number {
    return this.byHash.size;
  }

  private evict(id: number): void {
    const hash = this.hashes[id];
    if (hash === null) return;
    this.hashes[id] = null;
    this.byHash.delete(hash);
    if (this.refCounts[id] === 0) this.cachedCount--;
  }

  private pushTail(id: number): void {
    this.prev[id] = this.tail;
    this.next[id] = NONE;
    if (this.tail === NONE) this.head = id;
    else this.next[this.tail] = id;
    this.tail = id;
    this.freeCount++;
  }

  private unlink(id: number): void {
    const p = this.prev[id];
    const n = this.next[id];
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    this.prev[id] = this.next[id] = NONE;
    this.freeCount--;
  }
}
