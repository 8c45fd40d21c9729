// Greedy pairwise merging, the core of both GGUF tokenizers: repeatedly merge the adjacent pair
// of symbols with the best priority (leftmost on ties) until no pair can merge. SentencePiece
// ranks a pair by the score of the piece it makes; byte-level BPE by the rank of its merge rule.
// A heap of candidate pairs keeps long inputs O(n log n) instead of rescanning after every merge.

/** Priority of merging `left` + `right` (higher merges first), or undefined when they cannot merge. */
export type PairPriority = (left: string, right: string) => number | undefined;

interface Candidate {
  priority: number;
  left: number;
  right: number;
  /** Combined length when queued: a later merge of either side makes the candidate stale. */
  length: number;
}

function before(a: Candidate, b: Candidate): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.left < b.left);
}

class CandidateHeap {
  private items: Candidate[] = [];
  get size(): number {
    return this.items.length;
  }
  push(c: Candidate): void {
    const a = this.items;
    a.push(c);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): Candidate {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

/** Merges `symbols` (in order) as far as `priority` allows and returns the resulting symbols. */
export function mergePairs(symbols: string[], priority: PairPriority): string[] {
  const n = symbols.length;
  if (n < 2) return symbols.slice();
  const text = symbols.slice();
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const heap = new CandidateHeap();
  const consider = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const p = priority(text[left], text[right]);
    if (p !== undefined) heap.push({ priority: p, left, right, length: text[left].length + text[right].length });
  };
  for (let i = 0; i + 1 < n; i++) consider(i, i + 1);

  while (heap.size > 0) {
    const c = heap.pop();
    // Stale when either side has merged since: the right symbol is gone, or the lengths changed.
    if (text[c.left] === '' || text[c.right] === '' || next[c.left] !== c.right) continue;
    if (text[c.left].length + text[c.right].length !== c.length) continue;
    text[c.left] += text[c.right];
    text[c.right] = '';
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    consider(prev[c.left], c.left);
    consider(c.left, next[c.left]);
  }
  const out: string[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(text[i]);
  return out;
}
