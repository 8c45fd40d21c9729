// Continuous batching: which sequences run in the next step and how many tokens each computes.
// One function per phase, like nano-vllm: running decodes first, then running prefill chunks, then
// admission of waiting sequences into what is left of the token budget. When blocks run out, the
// newest running sequence (lowest priority under 'priority') is preempted by recompute: it loses
// its blocks and goes back to the front of the queue with its output so far.
//
// The scheduler may plan step N+1 while step N is still running: a sequence whose token from
// step N has not come back (pendingSamples) is planned as if it had, and the step builder leaves
// a placeholder for that token.
import type { KvCache } from './kv-cache.js';
import { numPlannedTokens, numTokens, type Sequence } from './sequence.js';

export type SchedulingPolicy = 'fcfs' | 'priority';

export interface SchedulerConfig {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  /** Prefill tokens a step may add when it also carries decodes (bounds the inter-token latency). */
  maxPrefillTokensWhileDecoding: number;
  maxModelLen: number;
  policy: SchedulingPolicy;
}

/** One sequence's part of a step. */
export interface ScheduledSeq {
  seq: Sequence;
  /** Position of the first token computed. */
  start: number;
  numNewTokens: number;
  /** Logit rows sampled from its last token: 0 (a prefill chunk short of the end), 1, or n for a fork. */
  numSamples: number;
  /** Index in the sequence's output of the (first) token sampled, the RNG counter. */
  outputIndex: number;
  /** The sequence's epoch when planned (see Sequence.epoch). */
  epoch: number;
  /** Set by rewind(): the step computed this entry from a wrong input token; its result is ignored. */
  discarded: boolean;
}

export interface StepPlan {
  scheduled: ScheduledSeq[];
  /** Copy-on-write (src, dst) block pairs to copy before the forward. */
  blockCopies: number[];
  numTokens: number;
}

export class Scheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];
  numPreemptions = 0;
  private readonly kv: KvCache;
  private readonly config: SchedulerConfig;
  private preemptedThisStep = false;

  constructor(kv: KvCache, config: SchedulerConfig) {
    this.kv = kv;
    this.config = config;
  }

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Queues a new sequence (by arrival, or by priority then arrival). */
  add(seq: Sequence): void {
    seq.status = 'waiting';
    if (this.config.policy === 'fcfs') this.waiting.push(seq);
    else this.insertByPriority(seq);
  }

  /** Plans the next step; null when nothing can run. */
  schedule(): StepPlan | null {
    const plan: StepPlan = { scheduled: [], blockCopies: [], numTokens: 0 };
    const planned = new Set<Sequence>();
    let budget = this.config.maxNumBatchedTokens;
    this.preemptedThisStep = false;

    // Running sequences: decodes first so that a long prefill never stalls the streams. A step
    // that carries decodes takes at most maxPrefillTokensWhileDecoding prompt tokens besides:
    // every stream waits for the whole step, so its length is their inter-token latency.
    for (const decodes of [true, false]) {
      if (!decodes && plan.scheduled.length > 0) budget = Math.min(budget, this.config.maxPrefillTokensWhileDecoding);
      for (const seq of this.running.slice()) {
        if (budget === 0 || plan.scheduled.length >= this.config.maxNumSeqs) break;
        if (seq.status !== 'running' || planned.has(seq) || this.reachedEnd(seq)) continue;
        const remaining = numPlannedTokens(seq) - seq.numComputedTokens;
        if (remaining <= 0 || (remaining === 1) !== decodes) continue;
        const numNew = Math.min(remaining, budget);
        if (!this.makeRoom(seq, numNew, plan.blockCopies, planned)) continue;
        budget -= numNew;
        this.plan(plan, planned, seq, numNew);
      }
    }
    const preempted = this.preemptedThisStep;

    // Waiting sequences, in queue order, only when nobody had to give blocks back this step.
    while (!preempted && budget > 0 && this.waiting.length > 0 && plan.scheduled.length < this.config.maxNumSeqs) {
      if (this.running.length >= this.config.maxNumSeqs) break;
      const seq = this.waiting[0];
      if (seq.pendingSamples > 0) break; // its last token is still in flight
      const hits = this.kv.findCachedPrefix(seq);
      const numNew = Math.min(numPlannedTokens(seq) - hits.length * this.kv.blockSize, budget);
      if (!this.kv.canAdmit(hits, numNew)) break;
      this.waiting.shift();
      this.kv.admit(seq, hits);
      if (!this.kv.allocateSlots(seq, numNew, plan.blockCopies)) throw new Error('Scheduler: admission check and allocation disagree');
      if (!seq.everScheduled) {
        seq.everScheduled = true;
        seq.numCachedPromptTokens = Math.min(seq.numComputedTokens, seq.promptTokenIds.length);
      }
      seq.status = 'running';
      this.running.push(seq);
      budget -= numNew;
      this.plan(plan, planned, seq, numNew);
    }
    return plan.scheduled.length > 0 ? plan : null;
  }

  /**
   * Bookkeeping when a planned step has finished (or was dropped): the sequence's in-flight
   * counters, its blocks in the prefix cache when the step succeeded, and the blocks of a
   * sequence that finished while the step was in flight.
   */
  stepDone(s: ScheduledSeq, succeeded: boolean): void {
    const seq = s.seq;
    seq.pendingSteps--;
    if (s.numSamples > 0 && !s.discarded) seq.pendingSamples--;
    if (succeeded && !s.discarded && seq.status === 'running' && seq.epoch === s.epoch)
      this.kv.registerFullBlocks(seq, s.start + s.numNewTokens);
    if (seq.status === 'finished' && seq.pendingSteps === 0) this.kv.free(seq);
  }

  /**
   * A launched step computes this entry from a wrong input token (async scheduling: a chained token
   * whose row the host sampler redid). Its sample will be ignored, and the sequence plans its
   * positions from s.start again, now with the known token. Call before any later step is planned.
   * Its blocks stay: they already cover those positions, and nothing registered them.
   */
  rewind(s: ScheduledSeq): void {
    if (s.discarded) return;
    s.discarded = true;
    const seq = s.seq;
    if (s.numSamples > 0) seq.pendingSamples--;
    if (seq.status === 'running' && seq.epoch === s.epoch) seq.numComputedTokens = Math.min(seq.numComputedTokens, s.start);
  }

  /** Ends a sequence (stop, length, abort, error); its blocks go back once no step uses them. */
  finish(seq: Sequence): void {
    if (seq.status === 'finished') return;
    remove(seq.status === 'running' ? this.running : this.waiting, seq);
    seq.status = 'finished';
    if (seq.pendingSteps === 0) this.kv.free(seq);
  }

  /**
   * After the prompt of `parent` completed: the children share its prompt blocks and run beside
   * it. When the parent lost its blocks meanwhile (preempted), they queue up and recompute.
   */
  fork(parent: Sequence, children: Sequence[]): void {
    parent.forkWidth = 1;
    parent.forkSeeds = [];
    const promptLen = parent.promptTokenIds.length;
    const sharable = parent.status === 'running' && parent.numComputedTokens >= promptLen;
    for (const child of children) {
      if (sharable) {
        this.kv.fork(parent, child, promptLen);
        child.status = 'running';
        this.running.push(child);
      } else {
        child.status = 'waiting';
        this.requeue(child);
      }
    }
  }

  /** Takes a sequence's blocks back and queues it to recompute prompt + output (preemption). */
  preempt(seq: Sequence): void {
    this.numPreemptions++;
    seq.numPreemptions++;
    this.reset(seq);
  }

  /** Like preempt, for a step that was planned but will never run (a failed step before it). */
  reset(seq: Sequence): void {
    if (seq.status === 'finished') return;
    if (seq.status === 'running') remove(this.running, seq);
    else remove(this.waiting, seq);
    this.kv.free(seq);
    seq.numComputedTokens = 0;
    seq.epoch++;
    seq.status = 'waiting';
    this.requeue(seq);
  }

  /** Allocates slots for `numNew` tokens of `seq`, preempting others (or itself) when needed. */
  private makeRoom(seq: Sequence, numNew: number, blockCopies: number[], planned: Set<Sequence>): boolean {
    while (!this.kv.allocateSlots(seq, numNew, blockCopies)) {
      const victim = this.pickVictim(seq, planned);
      this.preempt(victim);
      this.preemptedThisStep = true;
      if (victim === seq) return false;
    }
    return true;
  }

  /** The newest running sequence not planned in this step (lowest priority first under 'priority'). */
  private pickVictim(seq: Sequence, planned: Set<Sequence>): Sequence {
    let victim: Sequence | null = null;
    for (let i = this.running.length - 1; i >= 0; i--) {
      const s = this.running[i];
      if (s === seq || planned.has(s)) continue;
      if (this.config.policy === 'fcfs') return s;
      if (victim === null || compareQueueOrder(s, victim) > 0) victim = s;
    }
    return victim ?? seq;
  }

  private plan(plan: StepPlan, planned: Set<Sequence>, seq: Sequence, numNew: number): void {
    const start = seq.numComputedTokens;
    const samples = start + numNew === numPlannedTokens(seq);
    const outputIndex = seq.outputTokenIds.length + seq.pendingSamples;
    plan.scheduled.push({
      seq,
      start,
      numNewTokens: numNew,
      // The first output token of a request with n > 1 is sampled n times: that is the fork.
      numSamples: samples ? (outputIndex === 0 ? seq.forkWidth : 1) : 0,
      outputIndex,
      epoch: seq.epoch,
      discarded: false,
    });
    plan.numTokens += numNew;
    planned.add(seq);
    seq.numComputedTokens += numNew;
    seq.pendingSteps++;
    if (samples) seq.pendingSamples++;
  }

  /** The token in flight will be its last (maxTokens or the context): nothing more to compute. */
  private reachedEnd(seq: Sequence): boolean {
    if (seq.pendingSamples === 0) return false;
    return (
      seq.outputTokenIds.length + seq.pendingSamples >= seq.params.maxTokens ||
      numTokens(seq) + seq.pendingSamples >= this.config.maxModelLen
    );
  }

  /** Back to the queue ahead of new arrivals (its place by priority under 'priority'). */
  private requeue(seq: Sequence): void {
    if (this.config.policy === 'fcfs') this.insertFcfsFront(seq);
    else this.insertByPriority(seq);
  }

  // Preempted sequences go before every sequence that never ran, oldest first among themselves.
  private insertFcfsFront(seq: Sequence): void {
    let i = 0;
    while (i < this.waiting.length && this.waiting[i].everScheduled && compareQueueOrder(this.waiting[i], seq) < 0) i++;
    this.waiting.splice(i, 0, seq);
  }

  private insertByPriority(seq: Sequence): void {
    let lo = 0;
    let hi = this.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareQueueOrder(this.waiting[mid], seq) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.waiting.splice(lo, 0, seq);
  }
}

/** Queue order: priority (lower first; equal under FCFS), then arrival, then output index. */
export function compareQueueOrder(a: Sequence, b: Sequence): number {
  return a.priority - b.priority || a.arrivalOrder - b.arrivalOrder || a.index - b.index;
}

function remove(list: Sequence[], seq: Sequence): void {
  const i = list.indexOf(seq);
  if (i >= 0) list.splice(i, 1);
}
